"""Early-exit inference engines: the same model and policy, four ways to batch (spec C.9).

    run_batch1       one sample at a time: exact savings, no batching
    run_wait_for_all a batch runs until its slowest sample (predictions still taken at each
                     sample's own exit; the cost is B x the deepest exit)
    run_compaction   after each layer the unfinished rows (their state: hidden states,
                     attention masks, the policy's counters) are gathered into a smaller batch
    run_refill       a fixed number of slots; a slot freed by an exit takes the next input,
                     which starts at layer 1 while the others go on at their own depth

All return an :class:`ExitResult` whose predictions and exit layers equal ``run_batch1``'s
(P-C0.3); ``layer_evals`` counts the (row, layer) evaluations actually run, which equals the
sum of the exit layers for every engine except wait-for-all.

A runner is any object with ``num_layers``, ``embed(x, key_padding_mask) -> state``,
``layer(i, state) -> state`` and ``head(i, state) -> (logits, features)``, where ``state`` is
a dict of arrays with one row per sample (see :mod:`.models`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.dynamic.early_exit.policies import _Policy

__all__ = ["ENGINES", "ExitResult", "run_batch1", "run_compaction", "run_engine", "run_refill",
           "run_wait_for_all"]


@dataclass
class ExitResult:
    """predictions (N,), exit_layers (N,) in 1..L, logits (N, C) of the exit layer,
    layer_evals: (row, layer) evaluations run, head_evals: exit heads evaluated."""

    predictions: np.ndarray
    exit_layers: np.ndarray
    logits: np.ndarray
    layer_evals: int
    head_evals: int


def _runner(fn, runner):
    """A model is accepted for its runner; anything without exit heads is refused."""
    if callable(getattr(runner, "runner", None)):
        runner = runner.runner()
    for attr in ("num_layers", "embed", "layer", "head"):
        if not hasattr(runner, attr):
            fail(fn, f"runner must be a multi-exit model or its runner() (with {attr!r}), got "
                 f"{type(runner).__name__}", TypeError)
    if not isinstance(runner.num_layers, int) or runner.num_layers < 1:
        fail(fn, f"runner has no exit heads (num_layers = {runner.num_layers!r})")
    return runner


def _check(fn, runner, policy, x, key_padding_mask, batch_size=None):
    if not isinstance(policy, _Policy):
        fail(fn, f"policy must be an exit policy, got {type(policy).__name__}", TypeError)
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        fail(fn, f"x must be a non-empty batch (N, ...), got shape {x.shape}")
    if key_padding_mask is not None and np.asarray(key_padding_mask).shape[0] != len(x):
        fail(fn, f"key_padding_mask must have {len(x)} rows, got "
             f"{np.asarray(key_padding_mask).shape}")
    if batch_size is not None:
        check_int(fn, "batch_size", batch_size, min_value=1)
    return x


def _take(state: dict, rows) -> dict:
    return {k: v[rows] for k, v in state.items()}


def _put(state: dict, rows, values: dict) -> None:
    for k, v in values.items():
        state[k][rows] = v


def _chunk_mask(mask, a, b):
    return None if mask is None else np.asarray(mask)[a:b]


def _new_result(n, num_classes, dtype):
    return (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros((n, num_classes), dtype))


def _compaction_chunk(runner, policy, x, mask, out, offset):
    """Run rows x through the exit loop, compacting after every layer; fill ``out``."""
    preds, exits, logits = out
    state = runner.embed(x, mask)
    pstate = policy.start(len(x))
    ids = np.arange(len(x))
    evals = heads = 0
    for i in range(runner.num_layers):
        state = runner.layer(i, state)
        evals += len(ids)
        z, feats = runner.head(i, state)
        heads += len(ids)
        fires = policy.decide(i, z, feats, pstate)
        if i == runner.num_layers - 1:
            fires = np.ones(len(ids), dtype=bool)
        done = ids[fires] + offset
        exits[done], preds[done], logits[done] = i + 1, z[fires].argmax(1), z[fires]
        keep = ~fires
        if not keep.any():
            break
        if not keep.all():  # the gather: hidden state, masks and the policy's counters
            ids, state, pstate = ids[keep], _take(state, keep), _take(pstate, keep)
    return evals, heads


def run_batch1(runner, policy, x, key_padding_mask=None) -> ExitResult:
    """One sample at a time (what the released DeeBERT/PABEE/RightTool code supports)."""
    runner = _runner("run_batch1", runner)
    x = _check("run_batch1", runner, policy, x, key_padding_mask)
    first_z = runner.head(0, runner.layer(0, runner.embed(x[:1], _chunk_mask(key_padding_mask,
                                                                            0, 1))))[0]
    out = _new_result(len(x), first_z.shape[1], first_z.dtype)
    evals = heads = 0
    for s in range(len(x)):
        e, h = _compaction_chunk(runner, policy, x[s:s + 1], _chunk_mask(key_padding_mask, s,
                                 s + 1), out, s)
        evals, heads = evals + e, heads + h
    return ExitResult(out[0], out[1], out[2], evals, heads)


def run_compaction(runner, policy, x, batch_size: int = 32, key_padding_mask=None) -> ExitResult:
    """Batches of ``batch_size`` that shrink as their samples exit (FastBERT's fast mode)."""
    runner = _runner("run_compaction", runner)
    x = _check("run_compaction", runner, policy, x, key_padding_mask, batch_size)
    out, evals, heads = None, 0, 0
    for a in range(0, len(x), batch_size):
        b = min(a + batch_size, len(x))
        if out is None:
            z = runner.head(0, runner.layer(0, runner.embed(x[:1], _chunk_mask(
                key_padding_mask, 0, 1))))[0]
            out = _new_result(len(x), z.shape[1], z.dtype)
        e, h = _compaction_chunk(runner, policy, x[a:b], _chunk_mask(key_padding_mask, a, b),
                                 out, a)
        evals, heads = evals + e, heads + h
    return ExitResult(out[0], out[1], out[2], evals, heads)


def run_wait_for_all(runner, policy, x, batch_size: int = 32,
                     key_padding_mask=None) -> ExitResult:
    """Every row of a batch runs until the batch's last sample has exited (PABEE's ``all()``
    test made exact): the same decisions, the cost of the deepest exit for every row."""
    runner = _runner("run_wait_for_all", runner)
    x = _check("run_wait_for_all", runner, policy, x, key_padding_mask, batch_size)
    preds = exits = logits = None
    evals = heads = 0
    for a in range(0, len(x), batch_size):
        b = min(a + batch_size, len(x))
        state = runner.embed(x[a:b], _chunk_mask(key_padding_mask, a, b))
        pstate = policy.start(b - a)
        running = np.ones(b - a, dtype=bool)
        for i in range(runner.num_layers):
            state = runner.layer(i, state)
            z, feats = runner.head(i, state)
            evals, heads = evals + (b - a), heads + (b - a)
            if preds is None:
                preds, exits, logits = _new_result(len(x), z.shape[1], z.dtype)
            fires = policy.decide(i, z, feats, pstate)
            if i == runner.num_layers - 1:
                fires = np.ones(b - a, dtype=bool)
            newly = running & fires
            rows = np.flatnonzero(newly) + a
            exits[rows], preds[rows], logits[rows] = i + 1, z[newly].argmax(1), z[newly]
            running &= ~fires
            if not running.any():
                break
    return ExitResult(preds, exits, logits, evals, heads)


def run_refill(runner, policy, x, batch_size: int = 32, key_padding_mask=None) -> ExitResult:
    """``batch_size`` slots, each at its own depth. Every tick, the occupied slots are grouped
    by the layer they are at and each group runs that layer as one batch; rows that exit free
    their slot, which takes the next input (starting at layer 1) in the same tick."""
    runner = _runner("run_refill", runner)
    x = _check("run_refill", runner, policy, x, key_padding_mask, batch_size)
    n, depth = len(x), runner.num_layers
    slots = min(batch_size, n)
    state = runner.embed(x[:slots], _chunk_mask(key_padding_mask, 0, slots))
    pstate = policy.start(slots)
    sample = np.arange(slots)            # which input each slot holds (-1 = empty)
    at = np.zeros(slots, dtype=np.int64)  # the next layer each slot runs
    nxt = slots
    preds = exits = logits = None
    evals = heads = 0
    while (sample >= 0).any():
        occupied = np.flatnonzero(sample >= 0)
        freed = []
        depth_now = at[occupied].copy()  # grouped before any group advances
        for i in np.unique(depth_now):
            rows = occupied[depth_now == i]
            sub = runner.layer(int(i), _take(state, rows))
            _put(state, rows, sub)
            z, feats = runner.head(int(i), sub)
            evals, heads = evals + len(rows), heads + len(rows)
            if preds is None:
                preds, exits, logits = _new_result(n, z.shape[1], z.dtype)
            sub_p = _take(pstate, rows)
            fires = policy.decide(int(i), z, feats, sub_p)
            _put(pstate, rows, sub_p)
            if i == depth - 1:
                fires = np.ones(len(rows), dtype=bool)
            done = sample[rows[fires]]
            exits[done], preds[done], logits[done] = i + 1, z[fires].argmax(1), z[fires]
            at[rows] += 1
            freed.extend(rows[fires].tolist())
        if freed:
            freed = np.array(sorted(freed))
            take = freed[:max(0, min(len(freed), n - nxt))]
            sample[freed] = -1
            if len(take):
                new = np.arange(nxt, nxt + len(take))
                nxt += len(take)
                _put(state, take, runner.embed(x[new], None if key_padding_mask is None else
                                               np.asarray(key_padding_mask)[new]))
                _put(pstate, take, policy.start(len(take)))
                sample[take], at[take] = new, 0
    return ExitResult(preds, exits, logits, evals, heads)


ENGINES = {"batch 1": run_batch1, "wait-for-all": run_wait_for_all,
           "compaction": run_compaction, "refill": run_refill}


def run_engine(name: str, runner, policy, x, batch_size: int = 32,
               key_padding_mask=None) -> ExitResult:
    """Dispatch by name (one of ``ENGINES``)."""
    if name not in ENGINES:
        fail("run_engine", f"name must be one of {tuple(ENGINES)}, got {name!r}")
    if name == "batch 1":
        return run_batch1(runner, policy, x, key_padding_mask)
    return ENGINES[name](runner, policy, x, batch_size, key_padding_mask)
