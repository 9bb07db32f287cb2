"""What every skimming experiment shares: the full-LSTM baseline, a training loop, batch-1
timing and the comparison against the baseline.

Each method (Skim-RNN, VCRNN, LSTM-Jump) trains with :func:`fit` and its own loss, is timed
with :func:`time_batch1` on its compiled inference path, and is compared with
:func:`compare` against an :class:`LSTMClassifier` of the same size trained the same way, so
their tables line up.
"""

from __future__ import annotations

import time

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.data import DataLoader, pad_collate
from tinydyn.kernels.backend import dispatch
from tinydyn.kernels.cell_math import gate_scale
from tinydyn.kernels.lstm import (
    lstm_forward,
    lstm_forward_steps_numba,
    lstm_forward_steps_numpy,
)
from tinydyn.measure.flops import linear_flops, lstm_cell_flops
from tinydyn.measure.timing import time_fn
from tinydyn.nn import functional as F
from tinydyn.nn.layers import Embedding, Linear
from tinydyn.nn.module import Module
from tinydyn.nn.recurrent import LSTM
from tinydyn.optim import Adam, clip_grad_norm_

__all__ = ["LSTMClassifier", "check_param", "check_sequence", "compare", "fit", "lstm_batched",
           "lstm_predictor", "make_loader", "pad_tokens", "step_array", "step_weights",
           "time_batch1", "time_lstm", "token_batch", "train_lstm_baseline"]


class LSTMClassifier(Module):
    """Token ids -> embedding -> LSTM -> linear head on the last real state (the baseline)."""

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 32,
                 hidden_size: int = 64, rng=None, dtype=np.float32):
        super().__init__()
        rng = get_rng(rng, "LSTMClassifier")
        self.num_classes = check_int("LSTMClassifier", "num_classes", num_classes, min_value=2)
        self.embed = Embedding(vocab_size, embed_dim, padding_idx=0, rng=rng, dtype=dtype)
        self.lstm = LSTM(embed_dim, hidden_size, rng=rng, dtype=dtype)
        self.head = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)

    def forward(self, tokens, mask=None):
        _, (h_T, _) = self.lstm(self.embed(tokens), mask=mask)
        return self.head(h_T), None

    def flops(self, lengths) -> np.ndarray:
        """FLOPs per sequence: every real step is a full LSTM step, plus the head."""
        cell = lstm_cell_flops(self.lstm.input_size, self.lstm.hidden_size)
        return np.asarray(lengths, np.int64) * cell + linear_flops(self.lstm.hidden_size,
                                                                   self.num_classes)


def token_batch(fn: str, tokens, lengths, vocab_size: int):
    """Check a batch for a hard inference path: ``(tokens (B, T) int64, lengths (B,) int64)``.

    Token ids must index the embedding (``0 <= id < vocab_size``: a negative id would silently
    read the last row) and lengths must lie in ``[0, T]``; errors name ``fn``.
    """
    tokens = np.asarray(tokens.data if isinstance(tokens, Tensor) else tokens)
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        fail(fn, f"tokens must be a (B, T) integer array, got {tokens.dtype} of shape "
             f"{tokens.shape}", TypeError if tokens.dtype.kind not in "iu" else ValueError)
    if lengths.shape != (tokens.shape[0],) or lengths.dtype.kind not in "iu":
        fail(fn, f"lengths must be a ({tokens.shape[0]},) integer array, got {lengths.dtype} "
             f"of shape {lengths.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        fail(fn, f"token ids must be in [0, {vocab_size}) (the vocabulary), got values in "
             f"[{tokens.min()}, {tokens.max()}]")
    if lengths.size and (lengths.min() < 0 or lengths.max() > tokens.shape[1]):
        fail(fn, f"lengths must be in [0, T={tokens.shape[1]}], got values in "
             f"[{lengths.min()}, {lengths.max()}]")
    return tokens.astype(np.int64, copy=False), lengths.astype(np.int64)


def check_sequence(fn: str, x) -> tuple[int, int, int]:
    """``x`` must be a float32/float64 Tensor (B, T, d_x); returns its shape."""
    if not isinstance(x, Tensor):
        fail(fn, f"x must be a Tensor, got {type(x).__name__}", TypeError)
    if x.dtype not in (np.float32, np.float64):
        fail(fn, f"x must be float32 or float64, got dtype {x.dtype}", TypeError)
    if x.ndim != 3:
        fail(fn, f"x must be 3-D (batch, time, input), got shape {x.shape}")
    return x.shape


def check_param(fn: str, name: str, a, shape: tuple, dtype) -> None:
    """A weight or state argument: a Tensor of ``shape`` in the dtype of x."""
    if not isinstance(a, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(a).__name__}", TypeError)
    if a.dtype != dtype:
        fail(fn, f"{name} must have the dtype of x ({dtype}), got {a.dtype}", TypeError)
    if a.shape != shape:
        fail(fn, f"{name} must have shape {shape}, got {a.shape}")


def step_array(fn: str, name: str, value, B: int, T: int, kinds: str):
    """A (B, T) array of dtype kind in ``kinds`` ("bf": bool or float, "biu": bool or int)
    out of a Tensor or ndarray, or None."""
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray):
        fail(fn, f"{name} must be a Tensor or array of shape (B, T), got {type(value).__name__}",
             TypeError)
    if array.shape != (B, T):
        fail(fn, f"{name} must have shape (B, T) = {(B, T)}, got {array.shape}")
    if array.dtype.kind not in kinds:
        fail(fn, f"{name} must have a {'bool or float' if 'f' in kinds else 'bool or int'} "
             f"dtype, got {array.dtype}", TypeError)
    return array


def step_weights(fn: str, mask, B: int, T: int, dtype) -> np.ndarray:
    """A padding mask as (B, T) weights in ``dtype``: 1 at real steps (all, if None)."""
    mask = step_array(fn, "mask", mask, B, T, "bf")
    return np.ones((B, T), dtype) if mask is None else mask.astype(dtype)


def make_loader(split, batch_size: int, seed: int, shuffle: bool) -> DataLoader:
    """Batches of ``(tokens (B, T), mask (B, T), lengths (B,), labels (B,))``, padded with 0."""
    return DataLoader(split, batch_size=batch_size, shuffle=shuffle, seed=seed,
                      collate_fn=pad_collate())


def fit(model, task, loss_fn=None, *, epochs: int = 6, batch_size: int = 32, lr: float = 3e-3,
        seed: int = 0, clip: float = 1.0, time_limit: float | None = None,
        on_step=None) -> dict:
    """Train ``model`` on ``task.train`` with Adam; return a log (steps, seconds, losses).

    ``loss_fn(model, tokens, mask, lengths, labels, step) -> loss Tensor`` (default: the
    cross-entropy of ``model(tokens, mask)[0]``). ``on_step(step)`` runs before each step
    (annealing a temperature, say). Stops after ``time_limit`` seconds, between steps.
    """
    epochs = check_int("fit", "epochs", epochs, min_value=1)
    if loss_fn is None:
        def loss_fn(model, tokens, mask, lengths, labels, step):
            return F.cross_entropy(model(tokens, mask)[0], labels)
    opt = Adam(model.parameters(), lr=lr)
    loader = make_loader(task.train, batch_size, seed, shuffle=True)
    start, step, losses = time.perf_counter(), 0, []
    model.train()
    for _ in range(epochs):
        for tokens, mask, lengths, labels in loader:
            if on_step is not None:
                on_step(step)
            opt.zero_grad()
            loss = loss_fn(model, tokens, mask, lengths, labels, step)
            loss.backward()
            clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
            losses.append(float(loss.data))
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
        else:
            continue
        break
    model.eval()
    return {"loss": losses, "steps": step, "seconds": time.perf_counter() - start}


def train_lstm_baseline(task, seed: int = 0, *, hidden_size: int = 64, embed_dim: int = 32,
                        epochs: int = 12, batch_size: int = 32, lr: float = 3e-3,
                        time_limit: float | None = 55.0):
    """The full LSTM every skimming method is compared with: ``(model, metrics)``."""
    model = LSTMClassifier(task.vocab_size, task.num_classes, embed_dim, hidden_size,
                           rng=np.random.default_rng(seed))
    log = fit(model, task, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
              time_limit=time_limit)
    correct, flops = 0, []
    for tokens, mask, lengths, labels in make_loader(task.test, 250, 0, False):
        with no_grad():
            logits = model(tokens, mask)[0].data
        correct += int((logits.argmax(1) == labels.data).sum())
        flops.append(model.flops(lengths.data))
    return model, {"accuracy": correct / len(task.test),
                   "flops": float(np.concatenate(flops).mean()), "train_seconds": log["seconds"]}


def lstm_predictor(model: LSTMClassifier):
    """Batch-1 prediction ``tokens (T,) -> logits (1, C)`` through tinydyn's fused LSTM kernel:
    the baseline every hard inference path is timed against.

    Like the methods' predictors, it lays the weights out once (pre-scaled gate rows, as
    :func:`~tinydyn.kernels.lstm.lstm_forward` would on every call), so a call pays only for
    what any LSTM must do per sequence: embed, project the inputs, run the steps, apply the
    head. A baseline that redid the set-up per call would flatter every speed-up.
    """
    cell = model.lstm
    table, head_w, head_b = model.embed.weight.data, model.head.weight.data.T, model.head.bias.data
    H = cell.hidden_size
    scale = gate_scale(H, table.dtype)
    w_ih_s_t = np.ascontiguousarray((cell.weight_ih.data * scale[:, None]).T)
    w_hh_s = np.ascontiguousarray(cell.weight_hh.data * scale[:, None])
    bias_s = cell.bias.data * scale
    steps = dispatch(lstm_forward_steps_numba, lstm_forward_steps_numpy)

    def predict(tokens):
        T = len(tokens)
        gates = (table[tokens] @ w_ih_s_t + bias_s).reshape(T, 1, 4 * H)
        states = np.zeros((T + 2, 1, H), table.dtype)
        cs = np.zeros((T + 1, 1, H), table.dtype)
        steps(np.ones((1, T), table.dtype), w_hh_s, states, cs, gates)
        return states[T] @ head_w + head_b

    return predict


def pad_tokens(sequences) -> tuple[np.ndarray, np.ndarray]:
    """1-D token arrays -> ``(padded (B, T_max) int64, lengths (B,) int64)``, padded with 0."""
    lengths = np.array([len(seq) for seq in sequences], np.int64)
    padded = np.zeros((len(sequences), lengths.max()), np.int64)
    for i, seq in enumerate(sequences):
        padded[i, :len(seq)] = seq
    return padded, lengths


def lstm_batched(model: LSTMClassifier, padded, lengths) -> np.ndarray:
    """The baseline on one padded batch ``(B, T)`` through the same fused kernel as its
    batch-1 path: logits (B, C). The kernel computes every row up to the longest sequence
    (padding steps carry the state over), which is what a dense padded batch costs."""
    cell = model.lstm
    x = model.embed.weight.data[padded]
    h0 = np.zeros((len(padded), cell.hidden_size), x.dtype)
    mask = np.arange(padded.shape[1])[None] < lengths[:, None]
    _, h, _, _ = lstm_forward(x, h0, h0, cell.weight_ih.data, cell.weight_hh.data,
                              cell.bias.data, mask)
    return h @ model.head.weight.data.T + model.head.bias.data


def time_batch1(predict, sequences, repeats: int = 7) -> float:
    """Median seconds per sequence of ``predict(seq)`` over ``sequences``, one at a time."""
    def run():
        for seq in sequences:
            predict(seq)
    return time_fn(run, repeats=repeats, warmup=1).median / len(sequences)


def time_lstm(model: LSTMClassifier, sequences, repeats: int = 7) -> dict:
    """The baseline measured on ``sequences`` (1-D token arrays): ``flops_timed`` (mean FLOPs
    per sequence), ``time_b1`` (seconds per sequence, one at a time) and ``time_batched``
    (seconds per sequence when all run as one padded batch)."""
    padded, lengths = pad_tokens(sequences)
    batched = time_fn(lambda: lstm_batched(model, padded, lengths), repeats=repeats).median
    return {"flops_timed": float(model.flops(lengths).mean()),
            "time_b1": time_batch1(lstm_predictor(model), sequences, repeats),
            "time_batched": batched / len(sequences)}


def compare(method: dict, base: dict, method_flops: float, base_flops: float) -> dict:
    """Method against baseline: ``method``/``base`` hold ``accuracy`` and ``time_b1``;
    ``*_flops`` are the FLOPs of the *timed* sequences, so the realisation ratio (measured
    speed-up / FLOP speed-up) compares like with like."""
    flop_speedup = float(base_flops / method_flops)
    speedup = float(base["time_b1"] / method["time_b1"])
    out = {"flop_speedup": flop_speedup, "speedup": speedup,
           "realisation": speedup / flop_speedup,
           "flops_fraction": float(method_flops / base_flops),
           "accuracy_gap": base["accuracy"] - method["accuracy"]}
    if "time_batched" in method and "time_batched" in base:
        out["speedup_batched"] = float(base["time_batched"] / method["time_batched"])
        out["realisation_batched"] = out["speedup_batched"] / flop_speedup
    return out
