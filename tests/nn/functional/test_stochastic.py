"""F.dropout and F.gumbel_softmax: PyTorch's argument order, randomness from an explicit rng=,
float64 gradient checks, and agreement with torch where the randomness is shared."""

import numpy as np
import pytest

import tinydyn as td
import tinydyn.nn.functional as F
from tinydyn import Tensor, grad_check

X = Tensor(np.random.default_rng(0).standard_normal((4, 50)))


def test_dropout_positional_order_is_input_p_training():
    out = F.dropout(X, 0.3, False)
    assert out is X  # evaluation: the identity, as torch
    a = F.dropout(X, 0.3, True, rng=np.random.default_rng(1))
    b = td.dropout(X, 0.3, True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a.data, b.data)  # the same op on the same draw
    assert ((a.data == 0) | np.isclose(a.data, X.data / 0.7, rtol=1e-15)).all()


def test_dropout_rng_is_keyword_only_and_reproducible():
    with pytest.raises(TypeError):
        F.dropout(X, 0.5, True, False, np.random.default_rng(2))
    a = F.dropout(X, 0.5, rng=np.random.default_rng(2)).data
    np.testing.assert_array_equal(a, F.dropout(X, 0.5, rng=np.random.default_rng(2)).data)


def test_dropout_gradient():
    x = Tensor(X.data.copy(), requires_grad=True)
    assert grad_check(lambda x: F.dropout(x, 0.4, rng=np.random.default_rng(3)), x)


def test_dropout_scales_kept_entries_as_torch_does():
    torch = pytest.importorskip("torch")
    ours = F.dropout(X, 0.25, rng=np.random.default_rng(4)).data
    torch.manual_seed(0)
    theirs = torch.nn.functional.dropout(torch.tensor(X.data), 0.25).numpy()
    both = (ours != 0) & (theirs != 0)  # different generators: compare where both kept
    assert both.sum() > 50
    np.testing.assert_allclose(ours[both], theirs[both], rtol=1e-15)


def test_dropout_refuses_inplace():
    with pytest.raises(ValueError, match=r"dropout: inplace=True is not supported by tinydyn"):
        F.dropout(X, 0.5, True, True)


def test_gumbel_softmax_dim_is_keyword_only_as_torchs_fourth_argument_is_eps():
    with pytest.raises(TypeError):
        F.gumbel_softmax(X, 1.0, False, 0)
    out = F.gumbel_softmax(X, 0.5, True, dim=0, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(out.data.sum(axis=0), 1.0)


def test_gumbel_softmax_is_reproducible_from_its_rng():
    a = F.gumbel_softmax(X, rng=np.random.default_rng(6)).data
    np.testing.assert_array_equal(a, F.gumbel_softmax(X, rng=np.random.default_rng(6)).data)
    assert not np.array_equal(a, F.gumbel_softmax(X, rng=np.random.default_rng(7)).data)


@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_softmax_gradient_with_fixed_noise(hard):
    rng = np.random.default_rng(8)
    x = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    g = rng.gumbel(size=(3, 5))
    # hard: the value is one-hot, the gradient that of the soft sample (straight-through), so
    # compare with the soft path's gradient instead of finite differences of a step function
    if not hard:
        assert grad_check(lambda x: F.gumbel_softmax(x, 0.7, noise=g), x)
        return
    upstream = rng.standard_normal((3, 5))
    F.gumbel_softmax(x, 0.7, True, noise=g).backward(upstream)
    soft = Tensor(x.data.copy(), requires_grad=True)
    F.gumbel_softmax(soft, 0.7, noise=g).backward(upstream)
    np.testing.assert_array_equal(x.grad.data, soft.grad.data)  # the same soft computation


def test_gumbel_softmax_with_given_noise_matches_torchs_formula():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    logits, g = rng.standard_normal((4, 6)), rng.gumbel(size=(4, 6))
    ours = F.gumbel_softmax(Tensor(logits), 0.6, noise=g).data
    # torch.nn.functional.gumbel_softmax draws g itself; its soft output is this expression
    theirs = torch.softmax((torch.tensor(logits) + torch.tensor(g)) / 0.6, dim=-1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
