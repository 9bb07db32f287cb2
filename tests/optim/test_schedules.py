"""Learning-rate schedules: values at chosen steps, delegation, checkpoints, errors."""

import math

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.optim import SGD, Adam, CosineAnnealingLR, LinearWarmup, StepLR


def _opt(lr=1.0, groups=1):
    params = [Tensor(np.zeros(2), requires_grad=True) for _ in range(groups)]
    return SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)


def _trace(sched, steps):
    """The lr of group 0 at t = 0, 1, ..., steps - 1 (read from the optimizer)."""
    lrs = []
    for _ in range(steps):
        lrs.append(sched.optimizer.param_groups[0]["lr"])
        sched.step()
    return lrs


def test_step_lr_decays_every_step_size():
    sched = StepLR(_opt(1.0), step_size=3, gamma=0.5)
    np.testing.assert_allclose(_trace(sched, 8), [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_step_lr_scales_each_group_from_its_own_base():
    opt = _opt(0.1, groups=2)
    sched = StepLR(opt, step_size=1, gamma=0.1)
    sched.step()
    sched.step()
    np.testing.assert_allclose(sched.get_last_lr(), [0.1 * 0.01, 0.2 * 0.01])
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups], sched.get_last_lr())


@pytest.mark.parametrize("t, expected", [
    (0, 1.0), (2, 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2), (4, 0.55), (8, 0.1),
])
def test_cosine_values_at_chosen_steps(t, expected):
    sched = CosineAnnealingLR(_opt(1.0), T_max=8, eta_min=0.1)
    for _ in range(t):
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(expected)


def test_cosine_rises_again_after_t_max_like_torch():
    sched = CosineAnnealingLR(_opt(1.0), T_max=4)
    lrs = _trace(sched, 9)
    assert lrs[4] == pytest.approx(0.0, abs=1e-12) and lrs[8] == pytest.approx(1.0)


def test_warmup_ramps_linearly_from_zero_then_holds():
    sched = LinearWarmup(_opt(0.8), warmup_steps=4)
    np.testing.assert_allclose(_trace(sched, 7), [0.0, 0.2, 0.4, 0.6, 0.8, 0.8, 0.8])


def test_warmup_then_cosine():
    opt = _opt(1.0)
    sched = LinearWarmup(opt, warmup_steps=2, after=CosineAnnealingLR(opt, T_max=4))
    expected = [0.0, 0.5, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5,
                (1 + math.cos(3 * math.pi / 4)) / 2, 0.0]
    np.testing.assert_allclose(_trace(sched, 7), expected, atol=1e-12)


def test_warmup_keeps_the_delegates_counter():
    opt = _opt(1.0)
    after = StepLR(opt, step_size=2, gamma=0.5)
    sched = LinearWarmup(opt, warmup_steps=3, after=after)
    for _ in range(6):
        sched.step()
    assert after.last_epoch == 3 and after.get_last_lr() == [0.5]


def test_zero_warmup_steps_starts_at_base_lr():
    sched = LinearWarmup(_opt(0.3), warmup_steps=0)
    assert sched.get_last_lr() == [0.3]


def test_schedule_drives_the_optimizer_step():
    p = Tensor(np.zeros(1), requires_grad=True)
    opt = SGD([p], lr=1.0)
    sched = LinearWarmup(opt, warmup_steps=2)
    for _ in range(3):
        p.grad = Tensor(np.ones(1))
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, [-(0.0 + 0.5 + 1.0)])


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, step_size=2, gamma=0.3),
    lambda o: CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    lambda o: LinearWarmup(o, 3, after=CosineAnnealingLR(o, T_max=5)),
])
def test_state_dict_round_trip_resumes_identically(make):
    opt = _opt(0.5, groups=2)
    sched = make(opt)
    for _ in range(4):
        sched.step()
    saved = sched.state_dict()
    fresh_opt = _opt(0.5, groups=2)
    fresh = make(fresh_opt)
    fresh.load_state_dict(saved)
    assert fresh.get_last_lr() == sched.get_last_lr()
    for _ in range(5):
        sched.step()
        fresh.step()
        assert fresh.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in fresh_opt.param_groups] == sched.get_last_lr()


def test_state_dict_is_plain_numbers():
    sched = StepLR(_opt(0.1), step_size=2)
    assert sched.state_dict() == {"last_epoch": 0, "base_lrs": [0.1], "step_size": 2,
                                  "gamma": 0.1}


def test_works_with_adam_too():
    opt = Adam([Tensor(np.zeros(1), requires_grad=True)], lr=1e-3)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_step_lr_rejects_zero_step_size():
    with pytest.raises(ValueError, match="StepLR: step_size must be >= 1, got 0"):
        StepLR(_opt(), step_size=0)


def test_step_lr_rejects_float_step_size():
    with pytest.raises(TypeError, match="StepLR: step_size must be an int, got float 2.0"):
        StepLR(_opt(), step_size=2.0)


def test_cosine_rejects_zero_t_max():
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be >= 1, got 0"):
        CosineAnnealingLR(_opt(), T_max=0)


def test_schedule_rejects_a_non_optimizer():
    with pytest.raises(TypeError, match="StepLR: optimizer must be a tinydyn.optim.Optimizer, "
                                        "got list"):
        StepLR([], step_size=1)


def test_warmup_rejects_negative_steps():
    with pytest.raises(ValueError, match="LinearWarmup: warmup_steps must be >= 0, got -1"):
        LinearWarmup(_opt(), warmup_steps=-1)


def test_warmup_rejects_a_delegate_on_another_optimizer():
    with pytest.raises(ValueError, match="LinearWarmup: after must schedule the same optimizer"):
        LinearWarmup(_opt(), 2, after=StepLR(_opt(), 1))


def test_warmup_rejects_a_non_schedule_after():
    with pytest.raises(TypeError, match="LinearWarmup: after must be an LRScheduler or None, "
                                        "got function"):
        LinearWarmup(_opt(), 2, after=lambda t: 1.0)


def test_step_fails_clearly_after_a_group_is_added():
    opt = _opt()
    sched = StepLR(opt, step_size=1)
    opt.add_param_group({"params": [Tensor(np.zeros(1), requires_grad=True)]})
    with pytest.raises(ValueError, match="StepLR.step: the optimizer now has 2 param groups, "
                                         "but the schedule was built for 1"):
        sched.step()


def test_load_state_dict_rejects_missing_keys():
    with pytest.raises(TypeError, match=r"StepLR.load_state_dict: expected a dict with keys "
                                        r"\['base_lrs', 'gamma', 'last_epoch', 'step_size'\]"):
        StepLR(_opt(), 1).load_state_dict({"last_epoch": 3})


def test_failed_warmup_load_leaves_the_schedules_unchanged():
    opt = _opt(1.0)
    after = StepLR(opt, step_size=2)
    sched = LinearWarmup(opt, 2, after=after)
    saved = sched.state_dict()
    saved["last_epoch"] = 7
    saved["after"]["gamma"] = -1.0
    with pytest.raises(ValueError, match=r"LinearWarmup.load_state_dict \(after\): gamma must "
                                         "be >= 0, got -1.0"):
        sched.load_state_dict(saved)
    assert sched.last_epoch == 0 and after.gamma == 0.1
