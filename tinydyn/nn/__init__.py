"""Neural-network building blocks, named as in ``torch.nn``.

``import tinydyn.nn as nn`` gives ``nn.Module``, ``nn.Linear``, ... and ``nn.functional``
(conventionally imported as ``F``) and ``nn.init``. Checkpoints: ``tinydyn.nn.serialization``
(``save`` / ``load``, also exported as ``tinydyn.save`` / ``tinydyn.load``).
"""

from tinydyn.nn import functional, init
from tinydyn.nn.module import Module, Parameter
from tinydyn.nn.containers import ModuleDict, ModuleList, Sequential
from tinydyn.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
)

# Further layer files (convolution, recurrent, attention...) add their imports below.
from tinydyn.nn.conv import AvgPool2d, BatchNorm2d, Conv2d, GlobalAvgPool2d, MaxPool2d
from tinydyn.nn.recurrent import LSTM, GRUCell, LSTMCell
from tinydyn.nn.attention import (
    MultiHeadAttention,
    TransformerEncoder,
    TransformerEncoderLayer,
)
