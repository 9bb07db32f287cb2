"""MoE kernels: each Numba kernel against its NumPy twin (to a tolerance), on both layouts."""

import numpy as np
import pytest

from tinydyn.kernels import moe as k


def _layout(rng, n_tokens=13, n_experts=4, k_choice=2, slots=False):
    """A random routing in priority order and its buffer rows (dropless or slots)."""
    token = np.tile(np.arange(n_tokens), k_choice)
    expert = np.concatenate([rng.permutation(n_experts)[: k_choice] for _ in range(n_tokens)])
    expert = expert.reshape(n_tokens, k_choice).T.reshape(-1).astype(np.int64)
    order = np.argsort(expert, kind="stable")
    counts = np.bincount(expert, minlength=n_experts)
    if slots:
        c = int(counts.max()) + 1  # one empty slot at least: padding rows exist
        pos = np.empty_like(order)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        pos[order] = np.arange(order.size) - np.repeat(starts, counts)
        return token, expert * c + pos, np.arange(n_experts + 1) * c, n_experts * c
    row = np.empty_like(order)
    row[order] = np.arange(order.size)
    return token, row, np.concatenate(([0], np.cumsum(counts))), order.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slots", [False, True])
@pytest.mark.parametrize("gelu", [False, True])
def test_numba_kernels_match_numpy_twins(dtype, slots, gelu):
    rng = np.random.default_rng(3)
    token, row, offsets, n_rows = _layout(rng, slots=slots)
    s, d, f, e = 13, 5, 7, 4
    x = rng.standard_normal((s, d)).astype(dtype)
    gate = rng.uniform(0.1, 1.0, token.size).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)

    xe_a = k.gather_rows_numba(x, token, row, n_rows)
    xe_b = k.gather_rows_numpy(x, token, row, n_rows)
    np.testing.assert_allclose(xe_a, xe_b, **tol)

    out = rng.standard_normal((n_rows, d)).astype(dtype)
    np.testing.assert_allclose(k.combine_rows_numba(out, token, row, gate, s),
                               k.combine_rows_numpy(out, token, row, gate, s), **tol)
    dy = rng.standard_normal((s, d)).astype(dtype)
    for a, b in zip(k.combine_backward_numba(dy, out, token, row, gate, n_rows),
                    k.combine_backward_numpy(dy, out, token, row, gate, n_rows)):
        np.testing.assert_allclose(a, b, **tol)
    np.testing.assert_allclose(k.scatter_rows_numba(out, token, row, s),
                               k.scatter_rows_numpy(out, token, row, s), **tol)

    h = rng.standard_normal((n_rows, f)).astype(dtype)
    b1 = rng.standard_normal((e, f)).astype(dtype)
    h_a, h_b = h.copy(), h.copy()
    pre_a = k.bias_act_forward_numba(h_a, b1, offsets, gelu)
    pre_b = k.bias_act_forward_numpy(h_b, b1, offsets, gelu)
    np.testing.assert_allclose(h_a, h_b, **tol)
    np.testing.assert_allclose(pre_a, pre_b, **tol)
    dh = rng.standard_normal((n_rows, f)).astype(dtype)
    dh_a, dh_b = dh.copy(), dh.copy()
    db_a = k.bias_act_backward_numba(dh_a, h_a, pre_a, offsets, gelu)
    db_b = k.bias_act_backward_numpy(dh_b, h_b, pre_b, offsets, gelu)
    np.testing.assert_allclose(dh_a, dh_b, **tol)
    np.testing.assert_allclose(db_a, db_b, **tol)


def test_gather_then_combine_with_unit_gates_counts_each_token_once_per_assignment():
    rng = np.random.default_rng(0)
    token, row, offsets, n_rows = _layout(rng, slots=True)
    x = rng.standard_normal((13, 3))
    xe = k.gather_rows(x, token, row, n_rows)
    # every assigned row holds its token, the empty slots stay zero
    np.testing.assert_array_equal(xe[row], x[token])
    empty = np.setdiff1d(np.arange(n_rows), row)
    assert empty.size > 0 and not xe[empty].any()
    y = k.combine_rows(xe, token, row, np.ones(token.size), 13)
    np.testing.assert_allclose(y, 2 * x)  # two choices per token


def test_empty_expert_blocks_are_skipped():
    # expert 1 has no rows: its parameters get zero gradient, nothing breaks
    rng = np.random.default_rng(1)
    xe = rng.standard_normal((4, 3))
    offsets = np.array([0, 4, 4], dtype=np.int64)
    w1, b1 = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 5))
    w2, b2 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3))
    out, h, pre = k.expert_ffn_forward(xe, offsets, w1, b1, w2, b2, False)
    np.testing.assert_allclose(out, np.maximum(xe @ w1[0] + b1[0], 0) @ w2[0] + b2[0])
    grads = k.expert_ffn_backward(np.ones_like(out), xe, h, pre, offsets, w1, w2, False)
    for g in grads[1:]:
        assert not g[1].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_topk_rows_matches_its_twin_and_the_library_topk_with_ties(dtype):
    from tinydyn import Tensor
    from tinydyn.autograd.ops_estimators import topk

    rng = np.random.default_rng(4)
    values = rng.integers(0, 4, size=(50, 6)).astype(dtype)   # many ties
    for kk in (1, 2, 3, 6):
        a, b = k.topk_rows_numba(values, kk), k.topk_rows_numpy(values, kk)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, topk(Tensor(values), kk, dim=1).indices.data)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_empty_blocks_anywhere_give_zero_gradients_and_correct_sums(backend):
    from tinydyn.kernels import use_backend

    rng = np.random.default_rng(2)
    offsets = np.array([0, 0, 2, 2, 5, 5, 5], dtype=np.int64)   # empty first, middle, last
    e = len(offsets) - 1
    xe = rng.standard_normal((5, 3))
    w1, b1 = rng.standard_normal((e, 3, 4)), rng.standard_normal((e, 4))
    w2, b2 = rng.standard_normal((e, 4, 3)), rng.standard_normal((e, 3))
    with use_backend(backend):
        out, h, pre = k.expert_ffn_forward(xe, offsets, w1, b1, w2, b2, False)
        dout = rng.standard_normal(out.shape)
        dxe, dw1, db1, dw2, db2 = k.expert_ffn_backward(dout, xe, h, pre, offsets, w1, w2,
                                                        False)
    for ex, (lo, hi) in enumerate(zip(offsets[:-1], offsets[1:])):
        hidden = np.maximum(xe[lo:hi] @ w1[ex] + b1[ex], 0)
        np.testing.assert_allclose(out[lo:hi], hidden @ w2[ex] + b2[ex])
        np.testing.assert_allclose(db2[ex], dout[lo:hi].sum(axis=0), atol=1e-12)
        dpre = (dout[lo:hi] @ w2[ex].T) * (hidden > 0)
        np.testing.assert_allclose(db1[ex], dpre.sum(axis=0), atol=1e-12)
        np.testing.assert_allclose(dw1[ex], xe[lo:hi].T @ dpre, atol=1e-12)
        np.testing.assert_allclose(dw2[ex], hidden.T @ dout[lo:hi], atol=1e-12)
