"""Recurrent layers: LSTMCell, LSTM (the fused sequence op) and GRUCell.

Gate order and equations follow PyTorch, so weights copy over. LSTM, for input x, state (h, c)::

    z = x W_ih^T + h W_hh^T + bias                      (B, 4H), blocks i, f, g, o
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g)
    c' = f * c + i * g;   h' = o * tanh(c')

GRU (blocks r, z, n)::

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    h' = (1 - z) * n + z * h

The cells are composed from tinydyn ops (one step is cheap; dynamic methods such as Skim-RNN
need to intervene between steps). :class:`LSTM` runs a whole sequence through the fused
:func:`tinydyn.lstm` op instead, whose time loop is compiled: far fewer graph nodes and Python
calls than a loop of cells, with the same numbers.

Initialisation, as in torch: every weight and bias U(-1/sqrt(H), 1/sqrt(H)).
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd import ops_rnn
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn import functional as F
from tinydyn.nn import init
from tinydyn.nn.layers import _check_dtype
from tinydyn.nn.module import Module, Parameter

__all__ = ["GRUCell", "LSTM", "LSTMCell"]


def _check_bool(fn: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        fail(fn, f"{name} must be a bool, got {type(value).__name__} {value!r}", TypeError)
    return value


def _uniform_parameter(shape: tuple, bound: float, rng, dtype) -> Parameter:
    p = Parameter(np.empty(shape, dtype=dtype))
    return init.uniform_(p, -bound, bound, rng=rng)


class _RecurrentBase(Module):
    """Sizes, validation and torch's initialisation shared by the recurrent layers; ``_gates``
    is the number of H-wide blocks (4 for LSTM, 3 for GRU)."""

    _gates = 4

    def __init__(self, fn: str, input_size: int, hidden_size: int, bias: bool, rng, dtype):
        super().__init__()
        self.input_size = check_int(fn, "input_size", input_size, min_value=1)
        self.hidden_size = check_int(fn, "hidden_size", hidden_size, min_value=1)
        _check_bool(fn, "bias", bias)
        dtype = _check_dtype(fn, dtype)
        rng = get_rng(rng, fn)
        G, H = self._gates * hidden_size, hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = _uniform_parameter((G, input_size), bound, rng, dtype)
        self.weight_hh = _uniform_parameter((G, H), bound, rng, dtype)
        self._init_biases(bias, bound, rng, dtype)

    def _init_biases(self, bias, bound, rng, dtype) -> None:
        if bias:
            self.bias = _uniform_parameter((self._gates * self.hidden_size,), bound, rng, dtype)
        else:
            self.register_parameter("bias", None)

    def _check_state_part(self, fn: str, name: str, t, batch: int, dtype) -> None:
        if not isinstance(t, Tensor):
            fail(fn, f"{name} must be a Tensor, got {type(t).__name__}", TypeError)
        if t.shape != (batch, self.hidden_size):
            fail(fn, f"expected {name} of shape (B, H) = {(batch, self.hidden_size)}, got "
                 f"{t.shape}")
        if t.dtype != dtype:
            fail(fn, f"{name} must have the input's dtype {dtype}, got {t.dtype}", TypeError)

    def _zeros(self, batch: int, dtype) -> Tensor:
        return Tensor(np.zeros((batch, self.hidden_size), dtype=dtype), _copy=False)

    def _check_input(self, fn: str, x, lead: str) -> None:
        """``x`` must be (*lead, input_size), e.g. lead "B, T"."""
        if not isinstance(x, Tensor):
            fail(fn, f"input must be a Tensor, got {type(x).__name__}", TypeError)
        if x.ndim != lead.count(",") + 2 or x.shape[-1] != self.input_size:
            fail(fn, f"expected input of shape ({lead}, {self.input_size}), got {x.shape}")
        if x.dtype != self.weight_ih.dtype:
            fail(fn, f"input must have the weights' dtype {self.weight_ih.dtype}, got "
                 f"{x.dtype}", TypeError)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


class LSTMCell(_RecurrentBase):
    """One LSTM step: forward(x (B, I), state=(h, c) or None (zeros)) -> (h', c'), each (B, H).

    Parameters: ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias`` (4H,). torch keeps two
    biases, ``bias_ih`` and ``bias_hh``, that only ever appear summed: to copy torch weights
    here, use ``bias = bias_ih + bias_hh``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__("LSTMCell", input_size, hidden_size, bias, rng, dtype)

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, Tensor]:
        fn = "LSTMCell"
        self._check_input(fn, x, "B")
        B, H = x.shape[0], self.hidden_size
        h, c = _unpack_state(fn, state, self, B, x.dtype)
        z = F.matmul(x, F.transpose(self.weight_ih, 0, 1)) + F.matmul(
            h, F.transpose(self.weight_hh, 0, 1))
        if self.bias is not None:
            z = z + self.bias
        i = F.sigmoid(z[:, 0:H])
        f = F.sigmoid(z[:, H:2 * H])
        g = F.tanh(z[:, 2 * H:3 * H])
        o = F.sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        return o * F.tanh(c), c


def _unpack_state(fn: str, state, layer, batch: int, dtype) -> tuple[Tensor, Tensor]:
    """(h, c) from ``state`` (a pair of (B, H) Tensors, or None for zeros)."""
    if state is None:
        return layer._zeros(batch, dtype), layer._zeros(batch, dtype)
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        fail(fn, f"state must be a pair (h, c) of Tensors or None, got {type(state).__name__}",
             TypeError)
    layer._check_state_part(fn, "h", state[0], batch, dtype)
    layer._check_state_part(fn, "c", state[1], batch, dtype)
    return state[0], state[1]


def _lengths_to_mask(fn: str, lengths, batch: int, steps: int) -> np.ndarray:
    """(B,) integer lengths -> (B, T) bool mask, True at the first ``lengths[b]`` steps."""
    array = lengths.data if isinstance(lengths, Tensor) else lengths
    if isinstance(array, (list, tuple)):
        array = np.asarray(array)
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.integer):
        kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        fail(fn, f"lengths must be an integer Tensor or array of shape (B,), got {kind}",
             TypeError)
    if array.shape != (batch,):
        fail(fn, f"expected lengths of shape (B,) = ({batch},), got {array.shape}")
    if array.size and (array.min() < 0 or array.max() > steps):
        fail(fn, f"lengths must be in [0, T] = [0, {steps}], got values from {array.min()} "
             f"to {array.max()}")
    return np.arange(steps)[None, :] < array[:, None]


class LSTM(_RecurrentBase):
    """A one-layer LSTM over whole sequences, batch first, using the fused :func:`tinydyn.lstm`.

    forward(x (B, T, I), state=None, mask=None, lengths=None) -> (hs (B, T, H), (h_T, c_T)).

    ``mask`` (B, T) marks real steps (True or 1; a float mask interpolates and receives a
    gradient if it requires one); ``lengths`` (B,) int is the same for left-aligned sequences
    (give one or neither). At a padded step the state is carried over unchanged, so ``h_T`` is
    the state after each sequence's last real step, and ``hs`` there repeats the last state.

    Parameters have the names of :class:`LSTMCell` (``weight_ih``, ``weight_hh``, one ``bias``),
    so a cell's ``state_dict`` loads into an LSTM and back. (torch's ``nn.LSTM`` calls them
    ``weight_ih_l0``, ``weight_hh_l0`` and splits the bias into ``bias_ih_l0 + bias_hh_l0``.)
    """

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool = True,
                 num_layers: int = 1, bias: bool = True, rng=None, dtype=np.float32):
        fn = "LSTM"
        if batch_first is not True:
            fail(fn, f"only batch_first=True is supported (inputs (B, T, I)), got "
                 f"batch_first={batch_first!r}")
        if check_int(fn, "num_layers", num_layers, min_value=1) != 1:
            fail(fn, f"only num_layers=1 is supported (stack LSTM modules for more), got "
                 f"{num_layers}")
        super().__init__(fn, input_size, hidden_size, bias, rng, dtype)
        self.batch_first = True

    def forward(self, x: Tensor, state=None, mask=None, lengths=None):
        fn = "LSTM"
        self._check_input(fn, x, "B, T")
        B, T, _ = x.shape
        h0 = c0 = None  # the op starts from zeros
        if state is not None:
            h0, c0 = _unpack_state(fn, state, self, B, x.dtype)
        if mask is not None and lengths is not None:
            fail(fn, "pass either mask or lengths, not both")
        if lengths is not None:
            mask = _lengths_to_mask(fn, lengths, B, T)
        elif mask is not None:
            array = mask.data if isinstance(mask, Tensor) else mask
            if not isinstance(array, np.ndarray):
                fail(fn, f"mask must be a Tensor or ndarray of shape (B, T), got "
                     f"{type(mask).__name__}", TypeError)
            if array.shape != (B, T):
                fail(fn, f"expected mask of shape (B, T) = {(B, T)}, got {array.shape}")
            if array.dtype not in (np.bool_, x.dtype):
                fail(fn, f"mask must be bool or {x.dtype} (the input's dtype), got dtype "
                     f"{array.dtype}", TypeError)
        hs, h_T, c_T = ops_rnn.lstm(x, h0, c0, self.weight_ih, self.weight_hh, self.bias, mask)
        return hs, (h_T, c_T)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", batch_first=True"


class GRUCell(_RecurrentBase):
    """One GRU step: forward(x (B, I), h=None (zeros)) -> h' (B, H).

    Parameters as torch: ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih`` (3H,),
    ``bias_hh`` (3H,), blocks r, z, n. Two biases are needed here (unlike the LSTM) because
    ``b_hn`` sits inside ``r * (h W_hn^T + b_hn)`` and does not merge with ``b_in``.
    """

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__("GRUCell", input_size, hidden_size, bias, rng, dtype)

    def _init_biases(self, bias, bound, rng, dtype) -> None:
        for name in ("bias_ih", "bias_hh"):
            if bias:
                setattr(self, name,
                        _uniform_parameter((3 * self.hidden_size,), bound, rng, dtype))
            else:
                self.register_parameter(name, None)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        fn = "GRUCell"
        self._check_input(fn, x, "B")
        B, H = x.shape[0], self.hidden_size
        if h is None:
            h = self._zeros(B, x.dtype)
        else:
            self._check_state_part(fn, "h", h, B, x.dtype)
        gi = F.matmul(x, F.transpose(self.weight_ih, 0, 1))
        gh = F.matmul(h, F.transpose(self.weight_hh, 0, 1))
        if self.bias_ih is not None:
            gi = gi + self.bias_ih
            gh = gh + self.bias_hh
        r = F.sigmoid(gi[:, 0:H] + gh[:, 0:H])
        z = F.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = F.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"
