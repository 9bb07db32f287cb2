"""The Optimizer base: param groups, zero_grad, skipped params, validation, checkpoints."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.optim import SGD, Adam, AdamW


def _param(*shape, dtype=np.float64, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype),
                  requires_grad=True)


def _set_grads(params, seed):
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = Tensor(rng.standard_normal(p.shape).astype(p.dtype))


# ---- param groups --------------------------------------------------------------------------


def test_param_groups_use_their_own_lr():
    a, b = _param(3), _param(2, seed=1)
    a0, b0 = a.data.copy(), b.data.copy()
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    _set_grads([a, b], 0)
    ga, gb = a.grad.data.copy(), b.grad.data.copy()
    opt.step()
    np.testing.assert_allclose(a.data, a0 - 0.1 * ga)
    np.testing.assert_allclose(b.data, b0 - 0.01 * gb)


def test_param_groups_inherit_missing_options_from_defaults():
    opt = SGD([{"params": [_param(2)]}, {"params": [_param(2)], "momentum": 0.5}], lr=0.1,
              momentum=0.9)
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]


def test_changing_group_lr_changes_the_next_step():
    p = _param(2)
    opt = SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.0
    _set_grads([p], 0)
    before = p.data.copy()
    opt.step()
    np.testing.assert_array_equal(p.data, before)


def test_params_can_be_a_generator():
    params = [_param(2), _param(3)]
    opt = Adam(p for p in params)
    assert len(opt.param_groups[0]["params"]) == 2


def test_add_param_group_appends_a_group_with_defaults():
    opt = Adam([_param(2)], lr=0.5)
    opt.add_param_group({"params": [_param(1)], "eps": 1e-3})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["eps"] == 1e-3


# ---- zero_grad and skipped params -------------------------------------------------------------


def test_zero_grad_sets_grads_to_none():
    params = [_param(2), _param(3)]
    opt = SGD(params, lr=0.1)
    _set_grads(params, 0)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_params_without_grad_are_skipped_and_get_no_state():
    a, b = _param(2), _param(2, seed=1)
    b0 = b.data.copy()
    opt = Adam([a, b])
    _set_grads([a], 0)
    opt.step()
    np.testing.assert_array_equal(b.data, b0)
    assert b not in opt.state and a in opt.state


# ---- validation -------------------------------------------------------------------------------


def test_empty_params_is_an_error():
    with pytest.raises(ValueError, match="SGD: params is empty"):
        SGD([], lr=0.1)


def test_single_tensor_is_an_error():
    with pytest.raises(TypeError, match="Adam: params must be an iterable .* got a single "
                                        "Tensor; wrap it in a list"):
        Adam(_param(2))


def test_non_tensor_param_is_an_error():
    with pytest.raises(TypeError, match=r"SGD: param group 0, params\[1\] must be a Tensor, "
                                        "got ndarray"):
        SGD([_param(2), np.ones(2)], lr=0.1)


def test_param_without_requires_grad_is_an_error():
    with pytest.raises(ValueError, match=r"Adam: param group 0, params\[0\] \(shape \(2,\)\) "
                                         "does not require grad"):
        Adam([Tensor(np.ones(2))])


def test_non_leaf_param_is_an_error():
    with pytest.raises(ValueError, match="SGD: .* is not a leaf tensor"):
        SGD([_param(2) * 2.0], lr=0.1)


def test_repeated_param_is_an_error():
    p = _param(2)
    with pytest.raises(ValueError, match=r"SGD: param group 1, params\[0\] appears more than "
                                         "once"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_unknown_group_option_is_an_error():
    with pytest.raises(ValueError, match=r"SGD: param group 0 has unknown options "
                                         r"\['learning_rate'\]"):
        SGD([{"params": [_param(2)], "learning_rate": 0.1}], lr=0.1)


def test_group_without_params_is_an_error():
    with pytest.raises(ValueError, match="Adam: param group 0 has no 'params' entry"):
        Adam([{"lr": 0.1}])


def test_invalid_group_option_names_the_group():
    with pytest.raises(ValueError, match="SGD: param group 1: lr must be >= 0, got -0.5"):
        SGD([{"params": [_param(2)]}, {"params": [_param(2)], "lr": -0.5}], lr=0.1)


def test_mixing_tensors_and_groups_is_an_error():
    with pytest.raises(TypeError, match="SGD: params mixes tensors and param-group dicts"):
        SGD([_param(2), {"params": [_param(2)]}], lr=0.1)


# ---- state_dict -------------------------------------------------------------------------------


def _model(seed=0):
    return [_param(3, 2, seed=seed), _param(4, seed=seed + 1)]


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: Adam(ps, lr=0.01, weight_decay=0.1),
    lambda ps: AdamW([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1}], lr=0.01),
])
def test_state_dict_round_trip_resumes_identically(make):
    params = _model()
    opt = make(params)
    for step in range(3):
        _set_grads(params, step)
        opt.step()
    saved = opt.state_dict()
    clones = [Tensor(p.data.copy(), requires_grad=True) for p in params]
    resumed = make(clones)
    resumed.load_state_dict(saved)
    for step in range(3, 6):
        _set_grads(params, step)
        _set_grads(clones, step)
        opt.step()
        resumed.step()
    for p, c in zip(params, clones):
        np.testing.assert_array_equal(p.data, c.data)


def test_state_dict_holds_copies():
    params = _model()
    opt = Adam(params)
    _set_grads(params, 0)
    opt.step()
    saved = opt.state_dict()
    m = saved["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], m)


def test_state_dict_names_params_by_position():
    params = _model()
    opt = SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=0.1)
    groups = opt.state_dict()["param_groups"]
    assert [g["params"] for g in groups] == [[0], [1]]
    assert [g["lr"] for g in groups] == [0.1, 0.5]


def test_load_state_dict_restores_group_lr():
    params = _model()
    opt = SGD(params, lr=0.1)
    opt.param_groups[0]["lr"] = 0.05
    fresh = SGD(_model(), lr=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.05


def test_load_state_dict_rejects_a_different_param_count():
    opt = Adam(_model())
    other = Adam(_model()[:1])
    with pytest.raises(ValueError, match="Adam.load_state_dict: param group 0 has 2 params in "
                                         "the state but 1 in the optimizer"):
        other.load_state_dict(opt.state_dict())


def test_load_state_dict_rejects_a_different_shape():
    params = _model()
    opt = Adam(params)
    _set_grads(params, 0)
    opt.step()
    other = Adam([_param(3, 2), _param(5)])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state 'exp_avg' of param 1 "
                                         r"has shape \(4,\), but the param has shape \(5,\)"):
        other.load_state_dict(opt.state_dict())


def test_load_state_dict_rejects_a_different_dtype():
    params = _model()
    opt = SGD(params, lr=0.1, momentum=0.9)
    _set_grads(params, 0)
    opt.step()
    other = SGD([_param(3, 2, dtype=np.float32), _param(4, dtype=np.float32)], lr=0.1)
    with pytest.raises(TypeError, match="SGD.load_state_dict: state 'momentum_buffer' of param "
                                        "0 has dtype float64, but the param has dtype float32"):
        other.load_state_dict(opt.state_dict())


def test_load_state_dict_rejects_a_different_group_count():
    params = _model()
    opt = SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="SGD.load_state_dict: the state has 2 param groups, "
                                         "the optimizer has 1"):
        SGD(_model(), lr=0.1).load_state_dict(opt.state_dict())


def test_load_state_dict_rejects_another_optimizers_state():
    with pytest.raises(ValueError, match="Adam.load_state_dict: param group 0 has options "
                                         r"\['dampening', .* another optimizer"):
        Adam(_model()).load_state_dict(SGD(_model(), lr=0.1).state_dict())


def test_failed_load_leaves_the_optimizer_unchanged():
    params = _model()
    opt = SGD(params, lr=0.1, momentum=0.9)
    _set_grads(params, 0)
    opt.step()
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = 0.7
    saved["state"][1]["momentum_buffer"] = np.zeros(9)
    before = opt.state_dict()
    with pytest.raises(ValueError, match="has shape"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == before["param_groups"][0]["lr"]
    np.testing.assert_array_equal(opt.state[params[1]]["momentum_buffer"],
                                  before["state"][1]["momentum_buffer"])


def test_load_state_dict_rejects_a_non_dict():
    with pytest.raises(TypeError, match="SGD.load_state_dict: expected a dict with keys "
                                        r"\['param_groups', 'state'\], got list"):
        SGD(_model(), lr=0.1).load_state_dict([])
