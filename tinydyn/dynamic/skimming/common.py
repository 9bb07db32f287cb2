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

from tinydyn._checks import check_float, check_int, fail
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
from tinydyn.measure.timing import time_fn, time_fns
from tinydyn.nn import functional as F
from tinydyn.nn.layers import Embedding, Linear
from tinydyn.nn.module import Module
from tinydyn.nn.recurrent import LSTM
from tinydyn.optim import Adam, clip_grad_norm_
from tinydyn.optim.schedules import CosineAnnealingLR, LinearWarmup

__all__ = ["LSTMClassifier", "accuracy", "check_param", "check_sequence", "chrono_init",
           "compare", "fit", "lstm_batched", "lstm_predictor", "make_loader", "max_length",
           "pad_tokens", "step_array", "step_weights", "time_batch1", "time_lstm",
           "token_batch", "train_lstm_baseline"]


class LSTMClassifier(Module):
    """Token ids -> embedding -> LSTM -> linear head on the last real state (the baseline).

    ``chrono``: if given (the longest sequence length to expect), the LSTM's gate biases are
    set by :func:`chrono_init` after the other weights are drawn; None keeps torch's init.
    """

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 32,
                 hidden_size: int = 64, rng=None, dtype=np.float32, chrono: int | None = None):
        super().__init__()
        rng = get_rng(rng, "LSTMClassifier")
        self.num_classes = check_int("LSTMClassifier", "num_classes", num_classes, min_value=2)
        self.embed = Embedding(vocab_size, embed_dim, padding_idx=0, rng=rng, dtype=dtype)
        self.lstm = LSTM(embed_dim, hidden_size, rng=rng, dtype=dtype)
        self.head = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)
        if chrono is not None:
            chrono_init(self.lstm, chrono, rng)

    def forward(self, tokens, mask=None):
        _, (h_T, _) = self.lstm(self.embed(tokens), mask=mask)
        return self.head(h_T), None

    def flops(self, lengths) -> np.ndarray:
        """FLOPs per sequence: every real step is a full LSTM step, plus the head."""
        cell = lstm_cell_flops(self.lstm.input_size, self.lstm.hidden_size)
        return np.asarray(lengths, np.int64) * cell + linear_flops(self.lstm.hidden_size,
                                                                   self.num_classes)


def chrono_init(lstm, max_len: int, rng) -> None:
    """Chrono initialisation of an LSTM's gate biases (Tallec & Ollivier, ICLR 2018), in place.

    Forget bias ``b_f = log(u)``, ``u ~ U(1, max_len - 1)`` per unit, and input bias
    ``b_i = -b_f`` (gate order i, f, g, o). Each unit starts out as a memory with a time
    constant between 1 and ``max_len`` steps that writes little, so a signal token seen 150
    filler steps before the end still reaches the head in the first epoch. With torch's
    uniform init every unit forgets in a few steps, and the gradient from the last state to a
    distant signal vanishes: the plain LSTM then stays near chance on ``sparse_signal`` for
    the first epochs (our runs, validation accuracy on seeds 0-2: 48-57% after one epoch and
    68-90% after four, with torch's init or a forget bias of 1 or 3; with chrono init 90-98%
    after one epoch and 100% after two).
    """
    max_len = check_int("chrono_init", "max_len", max_len, min_value=3)
    rng = get_rng(rng, "chrono_init")
    H = lstm.bias.shape[0] // 4  # an LSTM, or the big cell of a SkimLSTM
    b_f = np.log(rng.uniform(1.0, max_len - 1.0, H)).astype(lstm.bias.dtype)
    lstm.bias.data[H:2 * H] = b_f
    lstm.bias.data[:H] = -b_f


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
        on_step=None, schedule: str = "constant", warmup: float = 0.0,
        on_epoch=None) -> dict:
    """Train ``model`` on ``task.train`` with Adam; return a log (steps, seconds, losses).

    ``loss_fn(model, tokens, mask, lengths, labels, step) -> loss Tensor`` (default: the
    cross-entropy of ``model(tokens, mask)[0]``). ``on_step(step)`` runs before each step
    (annealing a temperature, say). Stops after ``time_limit`` seconds, between steps.

    ``schedule``: the learning rate over the run, ``"constant"`` or ``"cosine"`` (half a
    cosine from ``lr`` down to 0 at the last step); ``warmup``: the fraction of the run spent
    ramping the lr linearly up from 0 first. ``on_epoch(epoch) -> dict`` runs after each epoch
    in eval mode (a validation accuracy, say); its dicts, with the epoch's mean loss, are the
    log's ``"epochs"`` (the training curve).
    """
    epochs = check_int("fit", "epochs", epochs, min_value=1)
    if schedule not in ("constant", "cosine"):
        fail("fit", f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    warmup = check_float("fit", "warmup", warmup, low=0.0, high=1.0)
    if loss_fn is None:
        def loss_fn(model, tokens, mask, lengths, labels, step):
            return F.cross_entropy(model(tokens, mask)[0], labels)
    opt = Adam(model.parameters(), lr=lr)
    loader = make_loader(task.train, batch_size, seed, shuffle=True)
    total = epochs * len(loader)
    ramp = int(round(warmup * total))
    after = CosineAnnealingLR(opt, T_max=max(1, total - ramp)) if schedule == "cosine" else None
    sched = LinearWarmup(opt, ramp, after=after) if ramp else after
    start, step, losses, curve = time.perf_counter(), 0, [], []
    model.train()
    for epoch in range(epochs):
        first = step
        for tokens, mask, lengths, labels in loader:
            if on_step is not None:
                on_step(step)
            opt.zero_grad()
            loss = loss_fn(model, tokens, mask, lengths, labels, step)
            loss.backward()
            clip_grad_norm_(model.parameters(), clip)
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            losses.append(float(loss.data))
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
        stopped = time_limit is not None and time.perf_counter() - start > time_limit
        if on_epoch is not None:
            model.eval()
            point = {"epoch": epoch + 1, "loss": float(np.mean(losses[first:step])),
                     **on_epoch(epoch)}
            curve.append(point)
            model.train()
        if stopped:
            break
    model.eval()
    return {"loss": losses, "steps": step, "seconds": time.perf_counter() - start,
            "epochs": curve}


def max_length(task) -> int:
    """The longest sequence over the task's splits (the horizon :func:`chrono_init` needs)."""
    return max(len(split[i][0]) for split in (task.train, task.val, task.test)
               for i in range(len(split)))


def accuracy(model, split, batch_size: int = 250) -> float:
    """Test accuracy of ``model(tokens, mask) -> (logits, ...)`` on ``split``."""
    correct = 0
    for tokens, mask, _lengths, labels in make_loader(split, batch_size, 0, False):
        with no_grad():
            logits = model(tokens, mask)[0].data
        correct += int((logits.argmax(1) == labels.data).sum())
    return correct / len(split)


def train_lstm_baseline(task, seed: int = 0, *, hidden_size: int = 64, embed_dim: int = 32,
                        epochs: int = 8, batch_size: int = 32, lr: float = 1e-2,
                        time_limit: float | None = 120.0, chrono: bool = True,
                        schedule: str = "cosine", warmup: float = 0.1, clip: float = 1.0):
    """The full LSTM every skimming method is compared with: ``(model, metrics)``.

    The recipe is chosen to make the baseline as strong as we could on the task's validation
    split: chrono initialisation (:func:`chrono_init`), Adam at ``lr`` 1e-2 after a linear
    warm-up over the first 10% of steps, then a cosine decay to 0, gradient norm clipped at 1.
    (Tried on seeds 0-2, validation accuracy after 4 epochs: torch's init with lr 3e-3 or 1e-2
    and a forget bias of 0, 1 or 3 reached 68-90%; chrono init 100%.)
    ``chrono=False, schedule="constant", lr=3e-3`` is the earlier, weaker recipe.

    ``metrics``: test ``accuracy``, mean test ``flops``, ``train_seconds``, ``steps`` and the
    training ``curve`` (per epoch: mean training loss and validation accuracy).
    ``time_limit`` is a safety net (a run it cuts short has fewer ``steps``).
    """
    model = LSTMClassifier(task.vocab_size, task.num_classes, embed_dim, hidden_size,
                           rng=np.random.default_rng(seed),
                           chrono=max_length(task) if chrono else None)
    log = fit(model, task, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
              time_limit=time_limit, schedule=schedule, warmup=warmup, clip=clip,
              on_epoch=lambda epoch: {"val_accuracy": accuracy(model, task.val)})
    flops = [model.flops(lengths.data)
             for _t, _m, lengths, _l in make_loader(task.test, 250, 0, False)]
    return model, {"accuracy": accuracy(model, task.test),
                   "flops": float(np.concatenate(flops).mean()), "train_seconds": log["seconds"],
                   "steps": log["steps"], "curve": log["epochs"]}


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
    (seconds per sequence when all run as one padded batch), the two paths timed in
    alternating warm blocks (:func:`tinydyn.measure.time_fns`)."""
    padded, lengths = pad_tokens(sequences)
    predict = lstm_predictor(model)

    def batch1():
        for seq in sequences:
            predict(seq)

    times = time_fns({"b1": batch1, "batched": lambda: lstm_batched(model, padded, lengths)},
                     repeats=repeats, block=min(2, repeats), warmup=1)
    return {"flops_timed": float(model.flops(lengths).mean()),
            "time_b1": times["b1"].median / len(sequences),
            "time_batched": times["batched"].median / len(sequences)}


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
