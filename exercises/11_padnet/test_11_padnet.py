"""Graded tests of exercise 11 (PAD-Net): 17 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): a PAD MoE
linear layer with every expert selected and its gates fixed to ``pi`` (which is exactly the
layer of the exercise), the gradient of its relaxed mask by autograd and by central
differences, IMP's schedule and threshold, and the library's post-processing.
"""

import numpy as np
import pytest

from tinydyn.grading.exercises.ex11_padnet import saliency_problem

pytestmark = pytest.mark.exercise("11")


def _layer_args(refs, mask=None, phi=None):
    return (refs["x"].copy(), refs["pi"].copy(), refs["kernels"].copy(), refs["static"].copy(),
            (refs["mask"] if mask is None else mask).copy(),
            float(refs["phi"] if phi is None else phi))


def _array(received, name):
    assert received is not None, f"{name}: the function returned None"
    return np.asarray(received, dtype=np.float64)


# ---- the layer and its saliency ------------------------------------------------------------


@pytest.mark.points(1)
def test_pad_forward(impl, refs, check):
    check.allclose(_array(impl.pad_forward(*_layer_args(refs)), "pad_forward"),
                   refs["forward"], "outputs of the PAD layer", rtol=1e-9, atol=1e-12)


@pytest.mark.points(1)
def test_pad_forward_all_dynamic_is_the_fully_dynamic_layer(impl, refs, check):
    args = _layer_args(refs, mask=np.ones_like(refs["mask"]), phi=0.0)
    check.allclose(_array(impl.pad_forward(*args), "pad_forward"), refs["forward_all_dynamic"],
                   "outputs with M = 1 and phi = 0", rtol=1e-9, atol=1e-12)


@pytest.mark.points(2)
def test_mask_saliency_matches_autograd(impl, refs, check):
    received = impl.mask_saliency(*_layer_args(refs), refs["target"].copy())
    check.allclose(_array(received, "mask_saliency"), refs["saliency"], "dL/dM",
                   rtol=1e-8, atol=1e-12)


@pytest.mark.points(1)
def test_mask_saliency_matches_finite_differences(impl, refs, check):
    received = impl.mask_saliency(*_layer_args(refs), refs["target"].copy())
    check.allclose(_array(received, "mask_saliency"), refs["saliency_fd"],
                   "dL/dM against central differences of the loss", rtol=1e-6, atol=1e-9)


@pytest.mark.points(1)
def test_mask_saliency_at_the_all_dynamic_mask(impl, refs, check):
    args = _layer_args(refs, mask=np.ones_like(refs["mask"]))
    received = impl.mask_saliency(*args, refs["target"].copy())
    check.allclose(_array(received, "mask_saliency"), refs["saliency_ones"],
                   "dL/dM at M = 1 (where IMP starts)", rtol=1e-8, atol=1e-12)


# ---- the schedule, the threshold, the loop --------------------------------------------------


@pytest.mark.points(1)
def test_exponential_schedule(impl, refs, check):
    for i, (kappa, t) in enumerate(zip(refs["schedule_kappas"], refs["schedule_T"])):
        received = impl.exponential_schedule(float(kappa), int(t))
        check.allclose(_array(received, "exponential_schedule"), refs[f"schedule_{i}"],
                       f"densities for kappa = {kappa}, T = {t}", rtol=1e-12)


def _masks(received, n, name):
    assert received is not None and len(received) == n, f"{name}: return one mask per layer"
    return [_array(m, name) for m in received]


@pytest.mark.points(2)
def test_global_masks_use_one_threshold_over_all_layers(impl, refs, check):
    scores = [refs["threshold_s0"].copy(), refs["threshold_s1"].copy()]
    received = _masks(impl.global_masks(scores, float(refs["threshold_density"])), 2,
                      "global_masks")
    for i, m in enumerate(received):
        check.equal(m, refs[f"threshold_m{i}"], f"mask of layer {i}")


@pytest.mark.points(1)
def test_global_masks_break_ties_by_position(impl, refs, check):
    scores = [refs["ties_s0"].copy(), refs["ties_s1"].copy()]
    received = _masks(impl.global_masks(scores, float(refs["ties_density"])), 2, "global_masks")
    for i, m in enumerate(received):
        check.equal(m, refs[f"ties_m{i}"], f"mask of layer {i} (tied scores)")


@pytest.mark.points(2)
def test_iterative_partition(impl, refs, check):
    shapes = [refs["imp_a0"].shape, refs["imp_a1"].shape]
    received = impl.iterative_partition(saliency_problem(refs), shapes,
                                        float(refs["imp_kappa"]), int(refs["imp_T"]))
    for i, m in enumerate(_masks(received, 2, "iterative_partition")):
        check.equal(m, refs[f"imp_m{i}"], f"final mask of layer {i}")


# ---- post-processing --------------------------------------------------------------------------


@pytest.mark.points(2)
def test_compress_keeps_the_used_values_with_the_scales_folded_in(impl, refs, check):
    received = impl.compress(refs["kernels"].copy(), refs["static"].copy(), refs["mask"].copy(),
                             float(refs["phi"]))
    assert received is not None and len(received) == 3, "compress: return three arrays"
    dynamic, static, index = received
    check.equal(np.asarray(index).astype(np.int64), refs["compress_index"], "index")
    check.allclose(_array(dynamic, "dynamic_values"), refs["compress_dynamic"],
                   "dynamic values", rtol=1e-12)
    check.allclose(_array(static, "static_values"), refs["compress_static"], "static values",
                   rtol=1e-12)


@pytest.mark.points(2)
def test_compressed_forward_equals_the_masked_layer(impl, refs, check):
    received = impl.compressed_forward(refs["x"].copy(), refs["pi"].copy(),
                                       refs["compress_dynamic"].copy(),
                                       refs["compress_static"].copy(),
                                       refs["compress_index"].copy(), refs["mask"].shape)
    check.allclose(_array(received, "compressed_forward"), refs["forward"],
                   "outputs of the compressed layer", rtol=1e-9, atol=1e-12)


@pytest.mark.points(1)
def test_your_compress_then_your_forward_is_exact(impl, refs, check):
    # the exactness check of post-processing, end to end on your own two functions
    parts = impl.compress(refs["kernels"].copy(), refs["static"].copy(), refs["mask"].copy(),
                          float(refs["phi"]))
    assert parts is not None and len(parts) == 3, "compress: return three arrays"
    received = impl.compressed_forward(refs["x"].copy(), refs["pi"].copy(), *parts,
                                       refs["mask"].shape)
    check.allclose(_array(received, "compressed_forward"), refs["forward"],
                   "compress then compressed_forward", rtol=1e-9, atol=1e-12)
