"""Choosing which entries stay dynamic: Iterative Mode Partition (IMP) and its baselines.

IMP (spec D.5) asks, for every entry ``j`` of every PAD layer's kernel, how much the loss would
move if the entry were switched from dynamic to static. Relax the mask to a real ``m`` and take
the first-order change, ``g_j = dL/dm_j`` at the current mask; by the chain rule

    g_j = sum over samples of dL/dW~_j * (lambda_d * W^_j(x) - lambda_s * Wbar_j)

The saliency is ``|g_j|`` (normalised by its sum, which does not change a ranking). Starting from
the fully dynamic network, round ``t = 1..T`` recomputes the saliencies at the current mask and
keeps the top ``kappa ** (t / T)`` of all entries dynamic - one *global* threshold over every
PAD layer, the mask recomputed from scratch (an entry made static may come back, as in FORCE).

The selection is deterministic: entries are ranked by saliency, ties broken by position (layers
in model order, entries in C order), and exactly ``round(d * N)`` are kept. Random and
magnitude partitions use the same selection with other scores; SNIP is the special case of one
kernel, ``Wbar = 0``, ``lambda = 1`` and ``T = 1`` (:func:`snip_scores`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.dynamic.padnet.layers import PadMixin
from tinydyn.nn.module import Module

__all__ = ["SCHEDULES", "SCOPES", "check_kappa", "density_schedule", "imp",
           "magnitude_partition", "mask_saliency", "normalise", "pad_layers",
           "random_partition", "select_masks", "snip_scores"]

SCOPES = ("global", "layer")
SCHEDULES = ("exponential", "linear")


def check_kappa(fn: str, kappa) -> float:
    """The target dynamic ratio: a number in (0, 1]."""
    if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real):
        fail(fn, f"kappa must be a number in (0, 1], got {kappa!r}", TypeError)
    if not math.isfinite(kappa):
        fail(fn, f"kappa must be a number in (0, 1], got {kappa!r}")
    return check_float(fn, "kappa", kappa, low=0.0, high=1.0, low_open=True)


def pad_layers(model) -> list:
    """The PAD layers of ``model`` in module order (the order of the global ranking)."""
    if not isinstance(model, Module):
        fail("pad_layers", f"model must be a Module, got {type(model).__name__}", TypeError)
    return [m for m in model.modules() if isinstance(m, PadMixin)]


def density_schedule(kappa: float, iterations: int, kind: str = "exponential") -> np.ndarray:
    """Dynamic fraction after each round t = 1..T: ``kappa ** (t/T)`` (or linear to kappa)."""
    fn = "density_schedule"
    kappa = check_kappa(fn, kappa)
    iterations = check_int(fn, "iterations", iterations, min_value=1)
    if kind not in SCHEDULES:
        fail(fn, f"kind must be one of {SCHEDULES}, got {kind!r}")
    t = np.arange(1, iterations + 1) / iterations
    return kappa ** t if kind == "exponential" else 1.0 - (1.0 - kappa) * t


def normalise(scores: list) -> list:
    """Saliencies divided by their global sum (a ranking-preserving rescaling)."""
    total = float(sum(np.abs(s).sum() for s in scores))
    return [np.abs(s) / total if total > 0 else np.abs(s).astype(np.float64) for s in scores]


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of the ``count`` largest scores; ties go to the smaller index."""
    order = np.lexsort((np.arange(scores.size), -scores.ravel()))
    return order[:count]


def select_masks(scores: list, density: float, scope: str = "global",
                 floor: float = 0.0) -> list:
    """0/1 masks (one per score array) keeping the top ``round(density * N)`` entries.

    ``scope="global"``: one ranking over all layers; ``"layer"``: each layer keeps
    ``round(density * N_l)`` of its own. ``floor`` (global scope): every layer keeps at least
    ``ceil(floor * N_l)`` entries (its best), the rest are filled by the global ranking; it
    guards against a layer collapsing to fully static. ``floor`` must not exceed ``density``.
    """
    fn = "select_masks"
    if not isinstance(scores, (list, tuple)) or not scores:
        fail(fn, "scores must be a non-empty list of arrays, one per PAD layer")
    scores = [np.asarray(s, dtype=np.float64) for s in scores]
    density = check_float(fn, "density", density, low=0.0, high=1.0)
    floor = check_float(fn, "floor", floor, low=0.0, high=1.0)
    if scope not in SCOPES:
        fail(fn, f"scope must be one of {SCOPES}, got {scope!r}")
    if floor > density + 1e-12:
        fail(fn, f"floor must be <= density ({density:.4f}), got {floor}")
    for s in scores:
        if not np.isfinite(s).all():
            fail(fn, "scores must be finite")
    masks = [np.zeros(s.shape, dtype=np.float64) for s in scores]
    if scope == "layer":
        for s, m in zip(scores, masks):
            m.ravel()[_top(s, int(math.floor(density * s.size + 0.5)))] = 1.0
        return masks
    sizes = [s.size for s in scores]
    flat = np.concatenate([s.ravel() for s in scores])
    chosen = np.zeros(flat.size, dtype=bool)
    offsets = np.cumsum([0] + sizes)
    for i, s in enumerate(scores):            # the per-layer floors first
        chosen[offsets[i] + _top(s, math.ceil(floor * s.size - 1e-9))] = True
    total = int(math.floor(density * flat.size + 0.5))
    left = max(0, total - int(chosen.sum()))
    rest = np.flatnonzero(~chosen)
    chosen[rest[_top(flat[rest], left)]] = True
    for i, m in enumerate(masks):
        m.ravel()[:] = chosen[offsets[i]:offsets[i + 1]]
    return masks


def mask_saliency(model, loss_fn, batches, train_mode: bool = False) -> list:
    """``dL/dm`` of every PAD layer at its current mask, summed over ``batches``.

    ``loss_fn(model, batch) -> scalar Tensor``. Eval mode by default (BatchNorm running
    statistics, as the reference code); the model's mode and its parameter gradients are
    restored/cleared afterwards. Returns one float64 array per layer, shape of its mask.
    """
    fn = "mask_saliency"
    layers = pad_layers(model)
    if not layers:
        fail(fn, "model has no PAD layer to score")
    if not callable(loss_fn):
        fail(fn, f"loss_fn must be callable, got {type(loss_fn).__name__}", TypeError)
    batches = list(batches)
    if not batches:
        fail(fn, "batches (the scoring set) must hold at least one batch, got none")
    was_training = model.training
    model.train(bool(train_mode))
    for layer in layers:
        layer.start_scoring()
    try:
        for batch in batches:
            loss = loss_fn(model, batch)
            loss.backward()
        grads = [layer.mask_grad() for layer in layers]
    finally:
        for layer in layers:
            layer.stop_scoring()
        model.zero_grad()
        model.train(was_training)
    return grads


def _apply(layers, masks) -> list:
    for layer, m in zip(layers, masks):
        layer.set_mask(m)
    return [layer.dynamic_ratio for layer in layers]


def _check_common(fn, model, kappa, scope, floor):
    kappa = check_kappa(fn, kappa)
    if scope not in SCOPES:
        fail(fn, f"scope must be one of {SCOPES}, got {scope!r}")
    floor = check_float(fn, "floor", floor, low=0.0, high=1.0)
    if floor > kappa:
        fail(fn, f"floor must be <= kappa ({kappa}), got {floor}")
    layers = pad_layers(model)
    if not layers:
        fail(fn, "model has no PAD layer to partition")
    return kappa, layers, floor


def imp(model, loss_fn, batches, kappa: float, iterations: int = 5, scope: str = "global",
        floor: float = 0.0, train_mode: bool = False, schedule: str = "exponential") -> dict:
    """Iterative Mode Partition: set every PAD layer's mask so a fraction ``kappa`` of all
    entries stays dynamic. Returns the log ``{"density": [...], "achieved": [...],
    "layer_ratios": [[...] per round], "scores": final normalised saliencies}``.

    Each round starts from the current masks (all ones at round 1), sums ``dL/dm`` over the
    scoring ``batches`` (:func:`mask_saliency`), and re-selects from scratch at density
    ``kappa ** (t / iterations)``.
    """
    fn = "imp"
    kappa, layers, floor = _check_common(fn, model, kappa, scope, floor)
    iterations = check_int(fn, "iterations", iterations, min_value=1)
    batches = list(batches)
    if not batches:
        fail(fn, "batches (the scoring set) must hold at least one batch, got none")
    _apply(layers, [np.ones(layer.mask_shape) for layer in layers])
    log = {"density": [], "achieved": [], "layer_ratios": [], "scores": None}
    for density in density_schedule(kappa, iterations, schedule):
        scores = normalise(mask_saliency(model, loss_fn, batches, train_mode))
        masks = select_masks(scores, density, scope, floor)
        ratios = _apply(layers, masks)
        sizes = [m.size for m in masks]
        log["density"].append(float(density))
        log["achieved"].append(float(sum(r * n for r, n in zip(ratios, sizes)) / sum(sizes)))
        log["layer_ratios"].append(ratios)
        log["scores"] = scores
    return log


def random_partition(model, kappa: float, rng, scope: str = "global", floor: float = 0.0) -> list:
    """A uniformly random mask with the same dynamic fraction; returns per-layer ratios."""
    fn = "random_partition"
    kappa, layers, floor = _check_common(fn, model, kappa, scope, floor)
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator, got {type(rng).__name__}", TypeError)
    scores = [rng.random(layer.mask_shape) for layer in layers]
    return _apply(layers, select_masks(scores, kappa, scope, floor))


def magnitude_partition(model, kappa: float, scope: str = "global", floor: float = 0.0) -> list:
    """Keep dynamic the entries whose K dynamic values are largest: score ``sum_k |W_k,j|``
    (magnitude pruning's criterion, no data). Returns per-layer ratios."""
    fn = "magnitude_partition"
    kappa, layers, floor = _check_common(fn, model, kappa, scope, floor)
    scores = [np.abs(layer.dynamic_values()).sum(axis=0) for layer in layers]
    return _apply(layers, select_masks(scores, kappa, scope, floor))


def snip_scores(weight, grad) -> np.ndarray:
    """SNIP's connection sensitivity ``|w * dL/dw|`` normalised to sum 1 (Lee et al. 2019)."""
    w, g = np.asarray(weight, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    if w.shape != g.shape:
        fail("snip_scores", f"grad must have the shape of weight {w.shape}, got {g.shape}")
    s = np.abs(w * g)
    return s / s.sum() if s.sum() > 0 else s
