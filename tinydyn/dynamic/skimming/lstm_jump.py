"""LSTM-Jump (Yu, Lee, Le; ACL 2017, "Learning to Skim Text").

Read R tokens, then decide how far to jump: ``k ~ softmax(W_j h + b_j)`` over ``{0, .., K}``,
where 0 means *stop reading* and k > 0 skips the next k tokens (after a segment ending at
position p, the next token read is ``p + k + 1``). Repeat until N jumps were made, the
sequence ended (a jump past the end ends it too), or k = 0. A classifier reads the final h.

So at most ``min(T, R (N + 1))`` tokens are read. With N = 0 the reader stops after the
first R tokens; with N = 0 and R >= T it reads everything and is a plain LSTM classifier (the
spec's "N = 0 reads every token" holds in this form: its "tokens read <= R(N+1)" forbids the
literal one).

The three faces (``docs/design.md``):

* **trainable**: :class:`LSTMJump` samples jumps; the LSTM runs only over the positions each
  example reads (per segment, the tokens are gathered and fed to the fused ``tinydyn.lstm``
  op with a mask, so rows that stopped carry their state). Loss (:meth:`LSTMJump.loss`):
  cross-entropy + REINFORCE with reward +1/-1 and a learned baseline ``b = w_b . h + c``
  fitted by squared error (:func:`reinforce_loss`);
* **hard inference**: :meth:`LSTMJump.infer` runs :func:`tinydyn.kernels.lstm_jump.
  lstm_jump_infer`, which embeds and multiplies only the tokens read;
* **cost model**: :func:`lstm_jump_flops` from the tokens read and decisions taken.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_nn import cross_entropy, log_softmax
from tinydyn.autograd.ops_shape import stack
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.lstm_jump import lstm_jump_infer
from tinydyn.measure.flops import add_flops, linear_flops, lstm_cell_flops
from tinydyn.nn.layers import Embedding, Linear
from tinydyn.nn.module import Module
from tinydyn.nn.recurrent import LSTM

__all__ = ["LSTMJump", "lstm_jump_flops", "read_positions", "reinforce_loss"]


def lstm_jump_flops(n_read, n_decisions, embed_dim: int, hidden_size: int, max_jump: int,
                    num_classes: int) -> np.ndarray:
    """FLOPs per sequence: an LSTM step per token read, the jump policy ``Linear(H, K+1)``
    per decision (the argmax/sampling over K+1 values is not counted), the head once.
    Embedding lookups are free; the baseline ``b`` is a training-only cost and not counted."""
    fn = "lstm_jump_flops"
    for name, size in (("embed_dim", embed_dim), ("hidden_size", hidden_size),
                       ("max_jump", max_jump), ("num_classes", num_classes)):
        check_int(fn, name, size, min_value=0)
    n_read, n_decisions = np.asarray(n_read), np.asarray(n_decisions)
    for name, counts in (("n_read", n_read), ("n_decisions", n_decisions)):
        if counts.dtype.kind not in "iu" or (counts.size and counts.min() < 0):
            fail(fn, f"{name} must hold integer counts >= 0, got {counts.dtype} values "
                 f"{counts.ravel()[:5].tolist()}", TypeError if counts.dtype.kind not in "iub"
                 else ValueError)
    n_read, n_decisions = n_read.astype(np.int64), n_decisions.astype(np.int64)
    return (n_read * lstm_cell_flops(embed_dim, hidden_size)
            + n_decisions * linear_flops(hidden_size, max_jump + 1)
            + linear_flops(hidden_size, num_classes))


def read_positions(length: int, read: int, jumps) -> np.ndarray:
    """The positions a jump-reader reads in a sequence of ``length`` tokens (the rule of
    :class:`LSTMJump`, written as plain arithmetic for lessons and tests).

    ``jumps`` are the decisions in the order they are taken (values >= 0; the list is the
    budget N: once it is used up, the reader reads one last segment and stops). Read ``read``
    tokens; after a segment ending at position p, a jump k > 0 makes p + k + 1 the next read,
    and k = 0 stops. The reader also stops at the end of the sequence (a jump past it too).
    """
    fn = "read_positions"
    length = check_int(fn, "length", length, min_value=1)
    read = check_int(fn, "read", read, min_value=1)
    jumps = np.asarray(jumps)
    if jumps.ndim != 1 or (jumps.size and (jumps.dtype.kind not in "iu" or jumps.min() < 0)):
        fail(fn, f"jumps must be a 1-D sequence of ints >= 0, got {jumps.tolist()!r}")
    out, start = [], 0
    for j in range(len(jumps) + 1):
        end = min(start + read, length)
        out.extend(range(start, end))
        if end == length or j == len(jumps) or jumps[j] == 0:
            break
        start = end + int(jumps[j])
        if start >= length:
            break
    return np.array(out, np.int64)


def reinforce_loss(log_probs: Tensor, rewards, baselines: Tensor, mask=None,
                   normalize: bool = False) -> tuple[Tensor, Tensor]:
    """REINFORCE with a learned baseline, as two losses to minimise.

    Args:
        log_probs: (B, J) log-probability of the action taken at each decision.
        rewards: (B,) reward of each episode (array or Tensor, no gradient).
        baselines: (B, J) predicted reward at each decision.
        mask: (B, J) bool, the decisions actually taken (None: all).
        normalize: standardise the advantages over the decisions taken in the batch:
            subtract their mean (a batch-level baseline on top of the learned one) and divide
            by their standard deviation, floored at 0.01 so that nearly equal advantages are
            not blown up. Keeps the step size steady while the learned baseline is still off.

    Returns:
        ``(policy, value)``: ``-mean(adv * log_probs)`` with ``adv = reward - b`` held
        constant, whose gradient is an unbiased estimate of ``-grad E[reward]`` for any
        baseline that does not depend on the action; and ``mean((reward - b)^2)`` that fits b.
        Both are averaged over the batch (summed over decisions).
    """
    fn = "reinforce_loss"
    if not isinstance(log_probs, Tensor) or not isinstance(baselines, Tensor):
        fail(fn, f"log_probs and baselines must be Tensors, got {type(log_probs).__name__} "
             f"and {type(baselines).__name__}", TypeError)
    if log_probs.ndim != 2 or baselines.shape != log_probs.shape:
        fail(fn, f"log_probs and baselines must both be (B, J), got {log_probs.shape} and "
             f"{baselines.shape}")
    B, J = log_probs.shape
    r = rewards.data if isinstance(rewards, Tensor) else np.asarray(rewards)
    if r.shape != (B,):
        fail(fn, f"rewards must have shape (B,) = {(B,)}, got {r.shape}")
    m = np.ones((B, J), bool) if mask is None else np.asarray(mask, bool)
    if m.shape != (B, J):
        fail(fn, f"mask must have shape (B, J) = {(B, J)}, got {m.shape}")
    dtype = log_probs.dtype
    weight = m.astype(dtype)
    adv = (r[:, None] - baselines.data) * weight
    if normalize and m.sum() > 1:
        # Centre first: dividing by the spread alone would turn advantages that share a sign
        # (a baseline off by a constant) into huge ones, all pushing the same way.
        taken = adv[m]
        adv = np.where(m, (adv - taken.mean()) / max(float(taken.std()), 0.01), 0.0)
    policy = -(log_probs * Tensor(adv.astype(dtype), _copy=False)).sum() * (1.0 / B)
    err = (Tensor(r[:, None].astype(dtype), _copy=False) - baselines) * Tensor(weight, _copy=False)
    value = (err * err).sum() * (1.0 / B)
    return policy, value


class LSTMJump(Module):
    """Embedding -> jump-reading LSTM -> linear head, with a jump policy and a baseline.

    Args:
        vocab_size, num_classes: token ids (0 = padding) and classes.
        embed_dim, hidden_size: E and H.
        read: R, tokens read between decisions; max_jump: K; max_jumps: N.
    """

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 32,
                 hidden_size: int = 64, read: int = 1, max_jump: int = 10, max_jumps: int = 5,
                 rng=None, dtype=np.float32):
        super().__init__()
        fn = "LSTMJump"
        rng = get_rng(rng, fn)
        self.num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
        self.read = check_int(fn, "read", read, min_value=1)
        self.max_jump = check_int(fn, "max_jump", max_jump, min_value=1)
        self.max_jumps = check_int(fn, "max_jumps", max_jumps, min_value=0)
        self.embed = Embedding(vocab_size, embed_dim, padding_idx=0, rng=rng, dtype=dtype)
        self.lstm = LSTM(embed_dim, hidden_size, rng=rng, dtype=dtype)
        self.jump = Linear(hidden_size, max_jump + 1, rng=rng, dtype=dtype)
        self.value = Linear(hidden_size, 1, rng=rng, dtype=dtype)
        self.head = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)

    # ---- training path ------------------------------------------------------------------

    def forward(self, tokens, lengths, actions="sample", rng=None) -> dict:
        """Read a padded batch, sampling (or choosing) the jumps.

        Args:
            tokens: (B, T) int array or Tensor; lengths: (B,) ints in [1, T].
            actions: ``"sample"`` (training), ``"greedy"`` (argmax, as :meth:`infer`), or a
                (B, N) int array of jumps in [0, K] used in order at each row's decisions.
            rng: the Generator for sampling.

        Returns:
            dict ``logits`` (B, C); ``log_probs`` and ``baselines`` (B, N) Tensors (zero where
            no decision was taken); ``decided`` (B, N) bool; ``jumps`` (B, N) int (-1 where no
            decision); ``read_mask`` (B, T) bool, the positions read; ``n_read`` (B,).
        """
        fn = "LSTMJump.forward"
        tokens, lengths = self._check_batch(fn, tokens, lengths)
        B, T = tokens.shape
        R, N, K = self.read, self.max_jumps, self.max_jump
        if isinstance(actions, str):
            if actions not in ("sample", "greedy"):
                fail(fn, f"actions must be 'sample', 'greedy' or a (B, N) int array, got "
                     f"{actions!r}")
            # the same draws as :meth:`infer` with ``sample=True``: uniform (b, j) decides
            # row b's j-th jump by inverting the CDF of its policy
            uniforms = get_rng(rng, fn).random((B, N)) if actions == "sample" else None
        else:
            uniforms, actions = None, np.asarray(actions)
            if actions.dtype.kind not in "iu" or actions.shape != (B, N):
                fail(fn, f"actions must be a (B, N) = {(B, N)} int array, got shape "
                     f"{actions.shape} dtype {actions.dtype}", TypeError)
            if actions.size and (actions.min() < 0 or actions.max() > K):
                fail(fn, f"actions must be in [0, K={K}], got values in [{actions.min()}, "
                     f"{actions.max()}]")
        rows = np.arange(B)
        pos = np.zeros(B, np.int64)
        alive = np.ones(B, bool)
        read_mask = np.zeros((B, T), bool)
        jumps = np.full((B, N), -1, np.int64)
        log_probs, baselines = [], []
        state = None
        for s in range(N + 1):
            idx = pos[:, None] + np.arange(R)[None]
            seg = alive[:, None] & (idx < lengths[:, None])
            idx = np.where(seg, idx, 0)
            hit_row, hit_col = np.nonzero(seg)
            read_mask[hit_row, idx[hit_row, hit_col]] = True
            x = self.embed(np.where(seg, tokens[rows[:, None], idx], 0))
            _, state = self.lstm(x, state=state, mask=seg)
            end = pos + R  # the first position after this segment
            alive = alive & (end < lengths) & (s < N)
            if not alive.any():
                break
            h = state[0]
            logp = log_softmax(self.jump(h), -1)
            k = self._choose(logp.data, actions, s, uniforms)
            k = np.where(alive, k, 0)
            jumps[alive, s] = k[alive]
            log_probs.append(logp[rows, k] * Tensor(alive.astype(logp.dtype), _copy=False))
            baselines.append(self.value(h.detach()).reshape(B) * Tensor(alive.astype(
                logp.dtype), _copy=False))
            pos = end + k
            alive = alive & (k > 0) & (pos < lengths)
        dtype = self.head.weight.dtype
        pad = [Tensor(np.zeros(B, dtype), _copy=False)] * (N - len(log_probs))
        stack = _stack_columns
        return {"logits": self.head(state[0]),
                "log_probs": stack(log_probs + pad, B, dtype),
                "baselines": stack(baselines + pad, B, dtype),
                "decided": jumps >= 0, "jumps": jumps, "read_mask": read_mask,
                "n_read": read_mask.sum(1)}

    def _choose(self, logp, actions, s, uniforms):
        """The jumps at decision ``s``: given, argmax, or the inverse-CDF sample."""
        if isinstance(actions, np.ndarray):
            return actions[:, s].astype(np.int64)
        if actions == "greedy":
            return logp.argmax(1)
        p = np.exp(logp.astype(np.float64))
        cdf = np.cumsum(p / p.sum(1, keepdims=True), axis=1)
        return np.minimum((cdf <= uniforms[:, s, None]).sum(1), p.shape[1] - 1)

    def loss(self, out: dict, labels, policy_weight: float = 1.0, value_weight: float = 1.0,
             normalize: bool = True) -> tuple[Tensor, dict]:
        """Cross-entropy + REINFORCE (reward +1 if the argmax is right, else -1) + baseline
        fit. Returns ``(loss, parts)`` with the float value of each part and the accuracy."""
        labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
        check_float("LSTMJump.loss", "policy_weight", policy_weight, low=0.0)
        check_float("LSTMJump.loss", "value_weight", value_weight, low=0.0)
        ce = cross_entropy(out["logits"], labels)
        correct = out["logits"].data.argmax(1) == labels
        reward = np.where(correct, 1.0, -1.0)
        total = ce
        parts = {"ce": float(ce.data), "accuracy": float(correct.mean())}
        if self.max_jumps > 0:
            policy, value = reinforce_loss(out["log_probs"], reward, out["baselines"],
                                           out["decided"], normalize=normalize)
            total = total + policy_weight * policy + value_weight * value
            parts.update(policy=float(policy.data), value=float(value.data))
        return total, parts

    def _check_batch(self, fn, tokens, lengths):
        tokens = tokens.data if isinstance(tokens, Tensor) else np.asarray(tokens)
        lengths = lengths.data if isinstance(lengths, Tensor) else np.asarray(lengths)
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            fail(fn, f"tokens must be a (B, T) int array, got shape {tokens.shape} dtype "
                 f"{tokens.dtype}", TypeError if tokens.dtype.kind not in "iu" else ValueError)
        B, T = tokens.shape
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
            fail(fn, f"lengths must be a (B,) = {(B,)} int array, got shape {lengths.shape} "
                 f"dtype {lengths.dtype}")
        if B and (lengths.min() < 1 or lengths.max() > T):
            fail(fn, f"lengths must be in [1, T={T}], got values in [{lengths.min()}, "
                 f"{lengths.max()}]")
        return tokens.astype(np.int64), lengths.astype(np.int64)

    # ---- hard inference and cost --------------------------------------------------------

    def kernel_weights(self) -> tuple:
        """The arrays :func:`lstm_jump_infer` takes after (tokens, lengths), in order."""
        return (self.embed.weight.data, self.lstm.weight_ih.data, self.lstm.weight_hh.data,
                self.lstm.bias.data, self.jump.weight.data, self.jump.bias.data)

    def infer(self, tokens, lengths, rng=None, sample: bool = False, compact: bool = True,
              max_jumps: int | None = None) -> dict:
        """Hard-decision inference through the kernel (greedy jumps, or sampled with
        ``sample``); ``max_jumps`` overrides N (an inference-time budget). Returns the
        kernel's dict (``h``, ``positions``, ``n_read``, ``jumps``, ``n_decisions``) plus
        ``logits`` (B, C) and ``flops`` (B,), and charges the FLOPs to any active
        :class:`tinydyn.measure.FlopCounter`."""
        fn = "LSTMJump.infer"
        tokens, lengths = self._check_batch(fn, tokens, lengths)
        N = self.max_jumps if max_jumps is None else check_int(fn, "max_jumps", max_jumps,
                                                                min_value=0)
        uniforms = get_rng(rng, fn).random((len(tokens), N)) if sample else None
        out = lstm_jump_infer(tokens, lengths, *self.kernel_weights(), read=self.read,
                              max_jumps=N, uniforms=uniforms, compact=compact)
        out["logits"] = out["h"] @ self.head.weight.data.T + self.head.bias.data
        out["flops"] = self.flops(out["n_read"], out["n_decisions"])
        add_flops(int(out["flops"].sum()), "lstm_jump")
        return out

    def flops(self, n_read, n_decisions) -> np.ndarray:
        """:func:`lstm_jump_flops` with this model's sizes."""
        return lstm_jump_flops(n_read, n_decisions, self.lstm.input_size, self.lstm.hidden_size,
                               self.max_jump, self.num_classes)


def _stack_columns(columns, B, dtype):
    """N Tensors of shape (B,) -> one (B, N) Tensor (a (B, 0) constant when N = 0)."""
    if not columns:
        return Tensor(np.zeros((B, 0), dtype), _copy=False)
    return stack(columns, 1)
