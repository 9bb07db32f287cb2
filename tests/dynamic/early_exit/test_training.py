"""The training recipes' properties (spec C.1-C.5), their losses' gradients, and calibration."""

import numpy as np
import pytest

from tinydyn.autograd.grad_check import grad_check
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.tensor import Tensor
from tinydyn.data.tasks import load_task
from tinydyn.dynamic.early_exit import MultiExitMLP
from tinydyn.dynamic.early_exit.training import (
    _step_loss,
    all_exit_outputs,
    distillation_loss,
    fit_temperature,
    lte_loss,
    lte_targets,
    pabee_weights,
    train_multi_exit,
    weighted_exit_loss,
)


@pytest.fixture(scope="module")
def task():
    return load_task("easy_hard", seed=0, n_train=300, n_val=100, n_test=100, length=2,
                     features=3, separation=2.0)


def _model(depth=4, dtype=np.float32, seed=0):
    return MultiExitMLP(6, 2, width=8, depth=depth, rng=np.random.default_rng(seed), dtype=dtype)


def test_pabee_weights_and_equal_losses():  # P-C3.5
    w = pabee_weights(4)
    np.testing.assert_allclose(w, np.array([1, 2, 3, 4]) / 10)
    z = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    y = np.array([0, 1, 2, 0, 1])
    same = weighted_exit_loss([z, z, z, z], y)
    assert float(same.data) == pytest.approx(float(cross_entropy(z, y).data))


def test_losses_pass_gradient_checks():
    rng = np.random.default_rng(1)
    y = np.array([0, 2, 1, 1])
    z1 = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    z2 = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert grad_check(lambda a, b: weighted_exit_loss([a, b], y), z1, z2)
    teacher = rng.standard_normal((4, 3))
    assert grad_check(lambda a: distillation_loss(a, teacher), z1)
    model = _model(depth=2, dtype=np.float64)
    h = [Tensor(rng.standard_normal((4, 8)), requires_grad=True) for _ in range(2)]
    logits = [rng.standard_normal((4, 2)) for _ in range(2)]
    assert grad_check(lambda a, b: lte_loss(model, [a, b], logits, y % 2), *h)


def test_distillation_is_zero_for_a_perfect_student():  # P-C2.3
    z = np.random.default_rng(2).standard_normal((6, 4))
    assert float(distillation_loss(Tensor(z), z).data) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(Tensor(z + [[0, 1, 0, 0]]), z).data) > 1e-3


def test_lte_targets_and_shared_unit():  # P-C4.3, P-C4.4
    y = np.array([0, 1, 1])
    perfect = [np.eye(2)[y] * 5 for _ in range(3)]
    assert (lte_targets(perfect, y) == 0).all()
    t = lte_targets([np.random.default_rng(3).standard_normal((3, 2)) for _ in range(3)], y)
    assert set(np.unique(t)) <= {0.0, 1.0}
    assert _model(depth=2).lte.weight.shape == _model(depth=6).lte.weight.shape == (1, 8)


def test_alternating_schedule_uses_final_loss_only_on_even_steps(task):  # P-C4.5
    model = _model()
    x, y = task.train.fields[0][:16], task.train.fields[1][:16]
    hidden = model.hidden(x)
    logits = [head(h) for head, h in zip(model.heads, hidden)]
    lte = float(lte_loss(model, hidden, logits, y).data)
    final = float(cross_entropy(logits[-1], y).data)
    internal = sum(float(cross_entropy(z, y).data) for z in logits[:-1])
    even, _ = _step_loss(model, "alternate", 0, 10, x, y, None)
    odd, _ = _step_loss(model, "alternate", 1, 10, x, y, None)
    assert float(even.data) == pytest.approx(final + lte, rel=1e-5)
    assert float(odd.data) == pytest.approx(internal + lte, rel=1e-5)


@pytest.mark.parametrize("recipe", ["two_stage", "distill"])
def test_stage_two_leaves_the_last_exit_unchanged(task, recipe):  # P-C1.3, P-C2.3
    model = _model()
    x = task.test.fields[0]
    seen = {}

    def grab(step, loss):
        if step == 9:  # the last step of stage one (20 steps: stage two starts at 10)
            seen["stage1"] = all_exit_outputs(model, x)[0]
            model.train()

    train_multi_exit(model, task, recipe, steps=20, batch=32, rng=np.random.default_rng(0),
                     callback=grab)
    after = all_exit_outputs(model, x)[0]
    np.testing.assert_array_equal(after[-1], seen["stage1"][-1])
    assert not np.array_equal(after[0], seen["stage1"][0])  # the exits did train


@pytest.mark.parametrize("recipe", ["joint", "sum", "alternate"])
def test_recipes_learn_the_task(task, recipe):
    model = _model()
    out = train_multi_exit(model, task, recipe, steps=150, batch=32, lr=1e-2,
                           rng=np.random.default_rng(0))
    logits, _ = all_exit_outputs(model, task.test.fields[0])
    assert (logits[-1].argmax(1) == task.test.fields[1]).mean() > 0.75
    assert out["temperatures"].shape == (4,) and (out["temperatures"] > 0).all()


def test_temperature_scaling_keeps_argmax_and_lowers_nll():  # P-C5.1, P-C5.3
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 200)
    z = 6 * rng.standard_normal((200, 3)) + 2 * np.eye(3)[y]  # over-confident
    t = fit_temperature(z, y)

    def nll(temp):
        s = z / temp - (z / temp).max(1, keepdims=True)
        return -(s - np.log(np.exp(s).sum(1, keepdims=True)))[np.arange(200), y].mean()
    assert t > 1 and nll(t) <= nll(1.0)
    np.testing.assert_array_equal((z / t).argmax(1), z.argmax(1))


def test_training_rejects_bad_input(task):
    with pytest.raises(ValueError, match="train_multi_exit: recipe"):
        train_multi_exit(_model(), task, "magic", steps=4, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        train_multi_exit(_model(), task, "joint", steps=4, rng=0)
    with pytest.raises(ValueError, match="fit_temperature"):
        fit_temperature(np.zeros((3, 2)), np.zeros(4, int))


def test_right_tool_mixing_weights_get_gradient_and_train():  # P-C5.4
    rng = np.random.default_rng(5)
    model = MultiExitMLP(6, 2, width=8, depth=3, mix_layers=True, rng=rng, dtype=np.float64)
    assert [m.weight.shape for m in model.mix] == [(2,), (3,), (4,)]
    np.testing.assert_allclose([np.linalg.norm(m.weight.data) for m in model.mix], 1.0)
    x, y = rng.standard_normal((10, 6)), rng.integers(0, 2, 10)
    loss = weighted_exit_loss(model(x), y, np.ones(3))
    loss.backward()
    assert all(np.abs(m.weight.grad.data).max() > 0 for m in model.mix)
    hidden = [Tensor(rng.standard_normal((4, 8)), requires_grad=True) for _ in range(3)]
    # the Parameter itself is an input: grad_check perturbs it in place
    assert grad_check(lambda a, b, c, w: model.mix[1]([a, b, c]), *hidden, model.mix[1].weight)
