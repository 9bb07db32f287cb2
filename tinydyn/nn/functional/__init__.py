"""Stateless functions behind the layers, as ``torch.nn.functional`` (import it as ``F``).

The names, argument names and argument order are PyTorch's, so ``F.conv2d(x, w, b, stride=2)``
or ``F.embedding(tokens, table)`` reads the same in both libraries; the differences kept on
purpose are listed on the library page of the course site (``docs/library/index.md``).

Most names are the engine's ops re-exported (``F.softmax`` is ``tinydyn.softmax``). Defined in
this package: :mod:`.losses` (``mse_loss``, ``binary_cross_entropy_with_logits``,
``kl_div``, ``entropy``), :mod:`.images` (``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``pad``)
and :mod:`.stochastic` (``dropout``, ``gumbel_softmax``, drawing from an explicit ``rng=``).
"""

from tinydyn.autograd.ops_elementwise import (
    clip,
    exp,
    log,
    maximum,
    relu,
    sigmoid,
    tanh,
    where,
)
from tinydyn.autograd.ops_gelu import gelu
from tinydyn.autograd.ops_index import embedding, getitem, masked_fill
from tinydyn.autograd.ops_linalg import linear, matmul
from tinydyn.autograd.ops_nn import cross_entropy, layer_norm, log_softmax, nll_loss, softmax
from tinydyn.autograd.ops_reduce import mean, sum  # sum shadows the builtin, as torch.sum
from tinydyn.autograd.ops_shape import cat, flatten, permute, reshape, stack, transpose
from tinydyn.nn.functional.images import avg_pool2d, conv2d, max_pool2d, pad
from tinydyn.nn.functional.losses import (
    binary_cross_entropy_with_logits,
    entropy,
    kl_div,
    mse_loss,
)
from tinydyn.nn.functional.stochastic import dropout, gumbel_softmax

__all__ = [
    "avg_pool2d", "binary_cross_entropy_with_logits", "cat", "clip", "conv2d", "cross_entropy",
    "dropout", "embedding", "entropy", "exp", "flatten", "gelu", "getitem", "gumbel_softmax",
    "kl_div", "layer_norm", "linear", "log", "log_softmax", "masked_fill", "matmul",
    "max_pool2d", "maximum", "mean", "mse_loss", "nll_loss", "pad", "permute", "relu",
    "reshape", "sigmoid", "softmax", "stack", "sum", "tanh", "transpose", "where",
]
