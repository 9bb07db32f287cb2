"""LSTM-Jump inference: read R tokens, jump ahead or stop, and never touch skipped tokens.

For each sequence (LSTM-Jump, Yu, Lee and Le 2017)::

    pos = 0, jumps = 0
    loop: read tokens pos, pos+1, ... (R of them, fewer at the end) with an LSTM step each
          if the sequence ended, or jumps == N: stop
          k = argmax (or a sample of) softmax(w_jump @ h + b_jump)        k in {0..K}
          k == 0: stop;  otherwise jumps += 1 and pos += k (the next read is p + k + 1
          when the segment ended at p); a jump past the end stops too

Only the tokens read are embedded and multiplied: the work is proportional to what is read.

**Batches are ragged**: every row is at its own position and stops at its own time. The kernel
keeps the rows still reading in a contiguous block (slots ``0 .. n_active-1``) and runs one
LSTM step for the whole block per round, as one matmul. When a row stops, its final state is
written out and the last active row moves into its slot (*compaction*), so later rounds cost
only what the remaining rows read. With ``compact=False`` finished rows stay in the block and
keep being computed (and discarded), as a padded batch would: the cost is then set by the
longest reader, which is what compaction saves (:func:`lstm_jump_infer` measures both).

Weights are given pre-scaled as in :mod:`tinydyn.kernels.lstm` (rows of i, f, o times -1, of g
times -2), so ``exp`` of a pre-activation is directly what sigmoid and tanh need; the
compiled loop reuses that module's vectorised exp, matmul and cell helpers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinydyn._checks import check_int, fail
from tinydyn.kernels.backend import dispatch, use_backend
from tinydyn.kernels.cell_math import exp_inplace, gate_scale, matmul_nt_acc, tanh_cell

__all__ = ["lstm_jump_infer", "lstm_jump_steps_numba", "lstm_jump_steps_numpy",
           "prepare_weights", "run_prepared", "warmup"]


@njit(cache=True)
def _choose(logits, u):
    """argmax of logits (u < 0) or the inverse-CDF sample of softmax(logits) at u in [0, 1)."""
    best = 0
    for k in range(1, logits.size):
        if logits[k] > logits[best]:
            best = k
    if u < 0:
        return best
    total = 0.0
    for k in range(logits.size):
        total += np.exp(logits[k] - logits[best])
    acc = 0.0
    for k in range(logits.size):
        acc += np.exp(logits[k] - logits[best]) / total
        if u < acc:
            return k
    return logits.size - 1


@njit(cache=True)
def lstm_jump_steps_numba(tokens, lengths, table, w_ih_s, w_hh_s, bias_s, w_jump, b_jump,
                          read, max_jumps, uniforms, compact, h_out, positions, n_read, jumps):
    """Run the jump-reading loop for a batch, in place.

    Args:
        tokens: (B, T) int64, left-aligned; lengths: (B,) int64 (>= 1).
        table: (V, E) embeddings; w_ih_s (4H, E), w_hh_s (4H, H), bias_s (4H,): the LSTM,
            pre-scaled (module docstring); w_jump (K+1, H), b_jump (K+1,): the jump policy.
        read: R >= 1; max_jumps: N >= 0.
        uniforms: (B, N) in [0, 1) to sample jump j of row b with ``uniforms[b, j]``, or
            (B, 0) for greedy (argmax) jumps.
        compact: 1 to remove finished rows from the block, 0 to keep computing them.
        h_out: (B, H) written: the final hidden state of each row.
        positions: (B, T) filled with -1; written: the positions read, in order.
        n_read: (B,) written: tokens read per row.
        jumps: (B, N) filled with -1; written: the jump chosen at each decision (0 = stop).
    """
    B = tokens.shape[0]
    G, H = w_hh_s.shape
    E = table.shape[1]
    dtype = table.dtype
    one = np.ones(1, dtype)[0]
    mul = np.full(G, one, dtype)
    add = np.zeros(G, dtype)
    mul[2 * H:3 * H] = one + one
    add[2 * H:3 * H] = -one
    sample = uniforms.shape[1] > 0
    # the active block: slot a holds row rows[a]
    rows = np.arange(B)
    pos = np.zeros(B, np.int64)
    seg = np.zeros(B, np.int64)     # tokens read in the current segment
    njump = np.zeros(B, np.int64)
    done = np.zeros(B, np.bool_)    # only used without compaction
    hh = np.zeros((B, H), dtype)
    cc = np.zeros((B, H), dtype)
    c_new = np.empty((B, H), dtype)
    tc = np.empty((B, H), dtype)
    xb = np.empty((B, E), dtype)
    z = np.empty((B, G), dtype)
    logits = np.empty(w_jump.shape[0], dtype)
    bits = np.empty(B * G, np.int32)
    n_active = B
    n_live = B
    while n_live > 0:
        n = n_active
        for a in range(n):
            token = tokens[rows[a], pos[a]] if not done[a] else 0
            xb[a] = table[token]
            z[a] = bias_s
        matmul_nt_acc(xb[:n], w_ih_s, z[:n])
        matmul_nt_acc(hh[:n], w_hh_s, z[:n])
        zf = z[:n].reshape(n * G)
        exp_inplace(zf, bits)
        for a in range(n):
            for k in range(G):
                z[a, k] = mul[k] / (one + z[a, k]) + add[k]
        tanh_cell(z[:n], cc[:n], c_new[:n], tc[:n], bits)
        for a in range(n):
            for j in range(H):
                cc[a, j] = c_new[a, j]
                hh[a, j] = z[a, 3 * H + j] * tc[a, j]
        # bookkeeping, from the last slot down so that moving the last row in is safe
        for a in range(n - 1, -1, -1):
            if done[a]:
                continue
            r = rows[a]
            positions[r, n_read[r]] = pos[a]
            n_read[r] += 1
            pos[a] += 1
            seg[a] += 1
            stop = pos[a] >= lengths[r]
            if not stop and seg[a] == read:
                if njump[a] == max_jumps:
                    stop = True
                else:
                    for k in range(logits.size):
                        s = b_jump[k]
                        for j in range(H):
                            s += w_jump[k, j] * hh[a, j]
                        logits[k] = s
                    u = uniforms[r, njump[a]] if sample else -1.0
                    k = _choose(logits, u)
                    jumps[r, njump[a]] = k
                    njump[a] += 1
                    seg[a] = 0
                    pos[a] += k
                    stop = k == 0 or pos[a] >= lengths[r]
            if stop:
                h_out[r] = hh[a]
                n_live -= 1
                if compact:
                    last = n_active - 1
                    rows[a], pos[a] = rows[last], pos[last]
                    seg[a], njump[a] = seg[last], njump[last]
                    hh[a] = hh[last]
                    cc[a] = cc[last]
                    n_active -= 1
                else:
                    done[a] = True


def lstm_jump_steps_numpy(tokens, lengths, table, w_ih_s, w_hh_s, bias_s, w_jump, b_jump,
                          read, max_jumps, uniforms, compact, h_out, positions, n_read, jumps):
    """The NumPy twin of :func:`lstm_jump_steps_numba` (same arguments, same effect)."""
    B = tokens.shape[0]
    G, H = w_hh_s.shape
    mul = np.where(np.arange(G) // H == 2, 2, 1).astype(table.dtype)
    add = np.where(np.arange(G) // H == 2, -1, 0).astype(table.dtype)
    sample = uniforms.shape[1] > 0
    rows = np.arange(B)
    pos, seg, njump = (np.zeros(B, np.int64) for _ in range(3))
    done = np.zeros(B, bool)
    hh = np.zeros((B, H), table.dtype)
    cc = np.zeros((B, H), table.dtype)
    n_active = n_live = B
    while n_live > 0:
        n = n_active
        tok = np.where(done[:n], 0, tokens[rows[:n], np.minimum(pos[:n], tokens.shape[1] - 1)])
        with np.errstate(over="ignore"):
            gates = mul / (1 + np.exp(table[tok] @ w_ih_s.T + bias_s + hh[:n] @ w_hh_s.T)) + add
        i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
        cc[:n] = f * cc[:n] + i * g
        hh[:n] = o * np.tanh(cc[:n])
        for a in range(n - 1, -1, -1):
            if done[a]:
                continue
            r = rows[a]
            positions[r, n_read[r]] = pos[a]
            n_read[r] += 1
            pos[a] += 1
            seg[a] += 1
            stop = pos[a] >= lengths[r]
            if not stop and seg[a] == read:
                if njump[a] == max_jumps:
                    stop = True
                else:
                    logits = w_jump @ hh[a] + b_jump
                    if sample:
                        p = np.exp(logits - logits.max())
                        cdf = np.cumsum(p / p.sum())
                        k = min(int(np.searchsorted(cdf, uniforms[r, njump[a]], side="right")),
                                logits.size - 1)
                    else:
                        k = int(np.argmax(logits))
                    jumps[r, njump[a]] = k
                    njump[a] += 1
                    seg[a] = 0
                    pos[a] += k
                    stop = k == 0 or pos[a] >= lengths[r]
            if stop:
                h_out[r] = hh[a]
                n_live -= 1
                if compact:
                    last = n_active - 1
                    for arr in (rows, pos, seg, njump, hh, cc):
                        arr[a] = arr[last]
                    n_active -= 1
                else:
                    done[a] = True


def _check_array(fn, name, a, ndim, kind):
    if not isinstance(a, np.ndarray):
        fail(fn, f"{name} must be a numpy array, got {type(a).__name__}", TypeError)
    if a.ndim != ndim:
        fail(fn, f"{name} must be {ndim}-D, got shape {a.shape}")
    if a.dtype.kind not in kind:
        fail(fn, f"{name} must have an {'integer' if kind == 'iu' else 'float'} dtype, got "
             f"{a.dtype}", TypeError)


def lstm_jump_infer(tokens, lengths, table, w_ih, w_hh, bias, w_jump, b_jump, read: int,
                    max_jumps: int, uniforms=None, compact: bool = True) -> dict:
    """Hard-decision LSTM-Jump over a batch of token sequences (see the module docstring).

    Args:
        tokens: (B, T) int, left-aligned; lengths: (B,) int in [1, T].
        table: (V, E) embedding table; w_ih (4H, E), w_hh (4H, H), bias (4H,): the LSTM, gates
            i, f, g, o, unscaled (as stored by :class:`tinydyn.nn.LSTM`).
        w_jump (K+1, H), b_jump (K+1,): the jump policy (output 0 = stop).
        read: R, tokens read between decisions; max_jumps: N.
        uniforms: (B, N) uniforms in [0, 1) to sample jumps, or None for greedy jumps.
        compact: remove finished rows from the batch (True) or compute them to the end.

    Returns:
        dict ``h`` (B, H) final states, ``positions`` (B, T) read positions padded with -1,
        ``n_read`` (B,), ``jumps`` (B, N) chosen jumps padded with -1, ``n_decisions`` (B,).
    """
    fn = "lstm_jump_infer"
    _check_array(fn, "tokens", tokens, 2, "iu")
    _check_array(fn, "lengths", lengths, 1, "iu")
    B, T = tokens.shape
    if lengths.shape != (B,):
        fail(fn, f"lengths must have shape (B,) = {(B,)}, got {lengths.shape}")
    if B and (lengths.min() < 1 or lengths.max() > T):
        fail(fn, f"lengths must be in [1, T={T}], got values in [{lengths.min()}, "
             f"{lengths.max()}]")
    _check_array(fn, "table", table, 2, "f")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= table.shape[0]):
        fail(fn, f"tokens must be in [0, {table.shape[0]}), got values in [{tokens.min()}, "
             f"{tokens.max()}]")
    dtype = table.dtype
    H = w_hh.shape[1] if isinstance(w_hh, np.ndarray) and w_hh.ndim == 2 else None
    if H is None or w_hh.shape[0] != 4 * H:
        fail(fn, f"w_hh must be a (4H, H) array, got {getattr(w_hh, 'shape', type(w_hh))}")
    E = table.shape[1]
    for name, a, shape in (("w_ih", w_ih, (4 * H, E)), ("w_hh", w_hh, (4 * H, H)),
                           ("bias", bias, (4 * H,)), ("b_jump", b_jump, None),
                           ("w_jump", w_jump, None)):
        _check_array(fn, name, a, 1 if name in ("bias", "b_jump") else 2, "f")
        if a.dtype != dtype:
            fail(fn, f"{name} must have the dtype of table ({dtype}), got {a.dtype}", TypeError)
        if shape is not None and a.shape != shape:
            fail(fn, f"{name} must have shape {shape}, got {a.shape}")
    if w_jump.shape[1] != H or w_jump.shape[0] < 1 or b_jump.shape != (w_jump.shape[0],):
        fail(fn, f"w_jump must be (K+1, H={H}) and b_jump (K+1,), got {w_jump.shape} and "
             f"{b_jump.shape}")
    read = check_int(fn, "read", read, min_value=1)
    max_jumps = check_int(fn, "max_jumps", max_jumps, min_value=0)
    tokens = np.ascontiguousarray(tokens, np.int64)
    lengths = np.ascontiguousarray(lengths, np.int64)
    if not isinstance(compact, bool):
        fail(fn, f"compact must be a bool, got {type(compact).__name__} {compact!r}", TypeError)
    if uniforms is None:
        uniforms = np.zeros((B, 0), np.float64)
    else:
        _check_array(fn, "uniforms", uniforms, 2, "f")
        if uniforms.shape != (B, max_jumps):
            fail(fn, f"uniforms must have shape (B, N) = {(B, max_jumps)}, got {uniforms.shape}")
        if uniforms.size and (uniforms.min() < 0 or uniforms.max() >= 1):
            fail(fn, f"uniforms must be in [0, 1), got values in [{uniforms.min()}, "
                 f"{uniforms.max()}]")
        uniforms = np.ascontiguousarray(uniforms, np.float64)
    return run_prepared(tokens, lengths, prepare_weights(table, w_ih, w_hh, bias, w_jump,
                                                         b_jump),
                        read, max_jumps, uniforms, compact)


def prepare_weights(table, w_ih, w_hh, bias, w_jump, b_jump) -> tuple:
    """The weights as the loop takes them: contiguous, LSTM rows pre-scaled (module docstring).
    An inference engine does this once; :func:`lstm_jump_infer` does it on every call."""
    scale = gate_scale(w_hh.shape[1], table.dtype)
    return (np.ascontiguousarray(table), np.ascontiguousarray(w_ih * scale[:, None]),
            np.ascontiguousarray(w_hh * scale[:, None]), np.ascontiguousarray(bias * scale),
            np.ascontiguousarray(w_jump), np.ascontiguousarray(b_jump))


def run_prepared(tokens, lengths, prepared, read, max_jumps, uniforms, compact) -> dict:
    """:func:`lstm_jump_infer` without the checks, on :func:`prepare_weights` output (valid
    inputs assumed: int64 tokens and lengths, float64 uniforms of shape (B, N) or (B, 0))."""
    B, T = tokens.shape
    h = np.zeros((B, prepared[2].shape[1]), prepared[0].dtype)
    positions = np.full((B, T), -1, np.int64)
    n_read = np.zeros(B, np.int64)
    jumps = np.full((B, max_jumps), -1, np.int64)
    steps = dispatch(lstm_jump_steps_numba, lstm_jump_steps_numpy)
    steps(tokens, lengths, *prepared, read, max_jumps, uniforms, int(compact), h, positions,
          n_read, jumps)
    return {"h": h, "positions": positions, "n_read": n_read, "jumps": jumps,
            "n_decisions": (jumps >= 0).sum(axis=1)}


def warmup() -> None:
    """Compile (or load from the on-disk cache) the loop for float32 and float64."""
    rng = np.random.default_rng(0)
    with use_backend("numba"):
        for dtype in (np.float32, np.float64):
            w = [rng.standard_normal(s).astype(dtype) for s in ((5, 2), (8, 2), (8, 2), (8,),
                                                                 (3, 2), (3,))]
            tokens = rng.integers(0, 5, size=(2, 6))
            lstm_jump_infer(tokens, np.array([6, 4]), *w, read=2, max_jumps=2)
            lstm_jump_infer(tokens, np.array([6, 4]), *w, read=2, max_jumps=2,
                            uniforms=rng.random((2, 2)), compact=False)
