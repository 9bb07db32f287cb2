"""tinydyn: dynamic neural networks from scratch, on a NumPy autograd engine with Numba kernels.

The top-level namespace mirrors ``torch``: ``tinydyn.tensor``, ``tinydyn.zeros``,
``tinydyn.no_grad()``, ``tinydyn.manual_seed``, and every differentiable op as a function
(``tinydyn.matmul``, ``tinydyn.cat``, ``tinydyn.softmax``...).
"""

from tinydyn.autograd import (
    Function,
    Tensor,
    enable_grad,
    grad_check,
    is_grad_enabled,
    manual_seed,
    no_grad,
)
from tinydyn.autograd.creation import (
    arange,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from tinydyn.autograd.ops_elementwise import *  # noqa: F403
from tinydyn.autograd.ops_estimators import *  # noqa: F403
from tinydyn.autograd.ops_gelu import *  # noqa: F403
from tinydyn.autograd.ops_index import *  # noqa: F403
from tinydyn.autograd.ops_linalg import *  # noqa: F403
from tinydyn.autograd.ops_nn import *  # noqa: F403
from tinydyn.autograd.ops_conv import *  # noqa: F403
from tinydyn.autograd.ops_reduce import *  # noqa: F403
from tinydyn.autograd.ops_rnn import *  # noqa: F403
from tinydyn.autograd.ops_shape import *  # noqa: F403

float32 = "float32"
float64 = "float64"
int64 = "int64"

__version__ = "0.1.0"

# Layers above the engine, so that `import tinydyn` gives `tinydyn.nn`, `tinydyn.optim`.
from tinydyn import data, measure, nn, optim  # noqa: E402
from tinydyn.nn.serialization import load, save  # noqa: E402
