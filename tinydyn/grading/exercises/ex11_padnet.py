"""Exercise 11 (PAD-Net): the mask saliency, IMP's schedule and global threshold, post-processing.

The student writes, for a partially dynamic *linear* layer whose per-sample weight mixes K
kernels with given weights ``pi`` (the linear twin of PAD DY-Conv)::

    W~_n = lambda_d * M * (sum_k pi[n, k] W_k) + lambda_s * (1 - M) * Wbar,   y_n = x_n W~_n

* ``pad_forward``: the layer's outputs;
* ``mask_saliency``: dL/dM at the current mask for ``L = 0.5 * mean_n ||y_n - t_n||^2``;
* ``exponential_schedule`` and ``global_masks``: the densities kappa^(t/T) and one global
  threshold over several layers with ties broken by position;
* ``iterative_partition``: the IMP loop around a given saliency function;
* ``compress`` and ``compressed_forward``: post-processing, and the layer run from what is left.

The references come from the library's real paths: :class:`PadMoELinear` with every expert
selected and the gates fixed to ``pi`` (then its output is exactly the layer above), its relaxed
mask differentiated by autograd (:func:`mask_saliency`), central differences of the library's
loss, :func:`density_schedule`, :func:`select_masks`, and :func:`compress` with the compressed
layer's stored values.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.function import no_grad
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Router, Routing
from tinydyn.dynamic.padnet import (
    PadMoELinear,
    density_schedule,
    mask_saliency,
    normalise,
    select_masks,
)
from tinydyn.dynamic.padnet import compress as _compress

TITLE = "PAD-Net: mask saliency, exponential schedule with a global threshold, post-processing"
LESSON = "lessons/11_padnet.py"
PREREQUISITES = ("01", "09")
ALLOWED_IMPORTS = ("numpy", "math")

N, D_IN, D_OUT, K = 6, 5, 4, 3


class FixedGates(Router):
    """Every token to every expert, with the gates given (rows of ``pi`` sum to 1)."""

    fn = "FixedGates"

    def __init__(self, pi):
        pi = np.asarray(pi, np.float64)
        super().__init__(D_IN, pi.shape[1], k=pi.shape[1])
        self.pi = pi

    def forward(self, x, token_ids=None) -> Routing:
        s, e = self.pi.shape
        return Routing(np.repeat(np.arange(s), e), np.tile(np.arange(e), s),
                       Tensor(self.pi.reshape(-1)), None, s, e)


def _layer(pi, kernels, static, mask, phi) -> PadMoELinear:
    layer = PadMoELinear(FixedGates(pi), D_IN, D_OUT, K, rng=np.random.default_rng(0),
                         dtype=np.float64)
    layer.weight.data[...] = kernels
    layer.bias.data[...] = 0.0
    layer.static_weight.data[...] = static
    layer.phi.data[...] = phi
    layer.set_mask(mask)
    return layer.eval()


def _forward(x, pi, kernels, static, mask, phi):
    with no_grad():
        return _layer(pi, kernels, static, mask, phi)(Tensor(np.asarray(x, np.float64))).data


def _loss(model, batch):
    x, target = batch
    diff = model(Tensor(x)) - Tensor(target)
    return (diff * diff).sum() * (0.5 / len(x))


def _saliency(x, pi, kernels, static, mask, phi, target):
    layer = _layer(pi, kernels, static, mask, phi)
    return mask_saliency(layer, _loss, [(np.asarray(x, np.float64),
                                         np.asarray(target, np.float64))])[0]


def _finite_differences(x, pi, kernels, static, mask, phi, target, eps=1e-3):
    """Central differences of the library's loss in each mask entry. The loss is quadratic in
    the mask (y is linear in it), so they are exact up to rounding for any eps."""
    layer = _layer(pi, kernels, static, mask, phi)
    out = np.zeros(mask.shape)
    for j in range(mask.size):
        values = []
        for sign in (1.0, -1.0):
            m = mask.astype(np.float64).copy()
            m.ravel()[j] += sign * eps
            layer.mask = m           # a real-valued mask: the relaxation being differentiated
            with no_grad():
                values.append(float(_loss(layer, (x, target)).data))
        out.ravel()[j] = (values[0] - values[1]) / (2 * eps)
    return out


def _schedule(kappa, iterations):
    return density_schedule(float(kappa), int(iterations))


def _global_masks(scores, density):
    return select_masks([np.asarray(s, np.float64) for s in scores], float(density))


def _iterative(saliency_fn, shapes, kappa, iterations, schedule=None, select=None):
    """IMP's loop as :func:`tinydyn.dynamic.padnet.imp` runs it, around ``saliency_fn``.
    ``schedule`` and ``select`` replace the density schedule and the thresholding (the graded
    mutants pass their broken ones, as a student's loop would call its own)."""
    schedule = schedule or (lambda k, t: density_schedule(float(k), int(t)))
    select = select or select_masks
    masks = [np.ones(s) for s in shapes]
    for density in schedule(kappa, iterations):
        masks = select(normalise(saliency_fn([m.copy() for m in masks])), density)
    return masks


def _compressed(kernels, static, mask, phi):
    small = _compress(_layer(np.full((1, K), 1.0 / K), kernels, static, mask, phi))
    return (small.dynamic_values.data.copy(), small.static_values.data.copy(),
            small.dynamic_index.copy())


def _compressed_forward(x, pi, dynamic_values, static_values, index, shape):
    kernel = np.zeros((len(dynamic_values), int(np.prod(shape))))
    kernel[:, index] = dynamic_values
    static = np.zeros(int(np.prod(shape)))
    static[np.setdiff1d(np.arange(static.size), index)] = static_values
    w = (np.asarray(pi) @ kernel + static).reshape((len(x),) + tuple(shape))
    return np.einsum("ni,nio->no", x, w)


class SOLUTION:
    """The functions of ``exercises/11_padnet/student.py``, implemented with the library."""

    pad_forward = staticmethod(_forward)
    mask_saliency = staticmethod(_saliency)
    exponential_schedule = staticmethod(_schedule)
    global_masks = staticmethod(_global_masks)
    iterative_partition = staticmethod(_iterative)
    compress = staticmethod(_compressed)
    compressed_forward = staticmethod(_compressed_forward)


def saliency_problem(refs: dict):
    """The graded saliency function of ``iterative_partition``: ``s_l = |A_l| + |C_l| (1 - M_l)``.

    It depends on the current masks (an entry made static scores higher next round, so it may
    come back), so the result depends on every round: a single shot at kappa, a linear
    schedule or a loop that never lets an entry return all end elsewhere.
    """
    layers = [(refs["imp_a0"], refs["imp_c0"]), (refs["imp_a1"], refs["imp_c1"])]

    def saliency_fn(masks):
        return [np.abs(a) + np.abs(c) * (1.0 - np.asarray(m, np.float64))
                for (a, c), m in zip(layers, masks)]
    return saliency_fn


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs (float64), drawn from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    out = {}
    x = rng.standard_normal((N, D_IN))
    pi = _softmax_rows(rng.standard_normal((N, K)))
    kernels = rng.standard_normal((K, D_IN, D_OUT)) * 0.5
    static = rng.standard_normal((D_IN, D_OUT)) * 0.5
    mask = (rng.random((D_IN, D_OUT)) < 0.5).astype(np.float64)
    phi = np.array(0.6)
    target = rng.standard_normal((N, D_OUT))
    out.update(x=x, pi=pi, kernels=kernels, static=static, mask=mask, phi=phi, target=target)
    out["forward"] = _forward(x, pi, kernels, static, mask, phi)
    ones = np.ones_like(mask)
    out["forward_all_dynamic"] = _forward(x, pi, kernels, static, ones, np.array(0.0))
    out["saliency"] = _saliency(x, pi, kernels, static, mask, phi, target)
    out["saliency_fd"] = _finite_differences(x, pi, kernels, static, mask, phi, target)
    out["saliency_ones"] = _saliency(x, pi, kernels, static, ones, phi, target)
    # the schedule and the global threshold
    out["schedule_kappas"] = np.array([0.3, 0.1, 0.5])
    out["schedule_T"] = np.array([5, 3, 4])
    for i, (kp, t) in enumerate(zip(out["schedule_kappas"], out["schedule_T"])):
        out[f"schedule_{i}"] = _schedule(kp, t)
    scores = [rng.random((4, 6)), rng.random((10,)) * 0.5]      # layer 1 smaller on purpose
    out.update(threshold_s0=scores[0], threshold_s1=scores[1], threshold_density=np.array(0.4))
    for i, m in enumerate(_global_masks(scores, 0.4)):
        out[f"threshold_m{i}"] = m
    ties = [np.zeros(5), np.array([0.0, 2.0, 0.0, 1.0])]          # exact ties, on purpose
    out.update(ties_s0=ties[0], ties_s1=ties[1], ties_density=np.array(0.5))
    for i, m in enumerate(_global_masks(ties, 0.5)):
        out[f"ties_m{i}"] = m
    # the IMP loop around a mask-dependent saliency
    out.update(imp_a0=rng.standard_normal((4, 6)), imp_c0=rng.standard_normal((4, 6)),
               imp_a1=rng.standard_normal((16,)), imp_c1=rng.standard_normal((16,)),
               imp_kappa=np.array(0.2), imp_T=np.array(5))
    masks = _iterative(saliency_problem(out), [(4, 6), (16,)], 0.2, 5)
    out.update(imp_m0=masks[0], imp_m1=masks[1])
    # post-processing
    dyn, stat, index = _compressed(kernels, static, mask, phi)
    out.update(compress_dynamic=dyn, compress_static=stat, compress_index=index.astype(np.int64))
    return out
