"""`tinydyn bench moe_balanced`: the suite's machinery on a tiny recipe (a few steps)."""

import json

import numpy as np
import pytest

from tinydyn.bench import EXPERIMENTS, moe_balanced
from tinydyn.bench.moe_balanced_report import load_cv_curve
from tinydyn.bench.rows import ROW_KEYS, check_rows


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(moe_balanced, "RECIPE", {**moe_balanced.RECIPE, "steps": 3,
                                                 "quick_steps": 2, "batch": 4})
    monkeypatch.setattr(moe_balanced, "QUICK_METHODS", ("dense FFN", "Hash (balanced)"))
    # the machine line imports PyTorch for its version: seconds this test does not need
    monkeypatch.setattr(moe_balanced, "machine_line", lambda: "test machine")


def test_moe_balanced_is_a_registered_experiment_suite():
    assert EXPERIMENTS["moe_balanced"] == "tinydyn.bench.moe_balanced"


def test_a_run_writes_every_method_over_the_seeds_and_its_shared_rows(tiny, tmp_path):
    result = moe_balanced.run_moe_balanced(tmp_path, seeds=2, repeats=1, log=None)
    assert [r["method"] for r in result["rows"]] == list(moe_balanced.METHODS)
    assert all(len(r["accuracy"]["values"]) == 2 for r in result["rows"])
    by = {r["method"]: r for r in result["rows"]}
    assert by["dense FFN"]["load_cv"] is None
    assert by["Expert Choice c=1"]["load_cv"]["max"] == 0.0
    # BASE's training loads are balanced at every step (recorded for seed 0)
    loads = np.array(result["train_loads"]["BASE"])
    assert loads.shape == (3, 8) and (loads == loads[:, :1]).all()
    saved = json.loads((tmp_path / "moe_balanced.json").read_text())
    assert saved["seeds"] == [0, 1]
    assert "Hash (oracle groups)" in (tmp_path / "moe_balanced.md").read_text()
    assert (tmp_path / "moe_balanced.png").stat().st_size > 0
    rows = check_rows(moe_balanced.table_rows(saved), "moe_balanced")
    assert all(tuple(row) == ROW_KEYS for row in rows)
    assert [row["method"] for row in rows if row["baseline"]] == ["dense FFN"]
    assert rows[0]["speedup_batch1"] == 1.0 and rows[0]["flop_speedup"] == 1.0
    assert all(row["family"] == "moe" and row["task"] == "token_rules" for row in rows)


def test_quick_runs_one_seed_and_fewer_methods(tiny, tmp_path):
    result = moe_balanced.run_moe_balanced(tmp_path, quick=True, repeats=1, log=None)
    assert result["seeds"] == [0]
    assert [r["method"] for r in result["rows"]] == ["dense FFN", "Hash (balanced)"]


def test_flops_count_the_expert_the_router_and_the_head():
    f = moe_balanced.flops_per_token
    assert f("dense FFN", 16, 8, 8, 16) == 4 * 16 * 8 + 2 * 16 * 16
    assert f("Hash (random)", 16, 8, 8, 16) == f("dense FFN", 16, 8, 8, 16)
    assert f("Switch top-1", 16, 8, 8, 16) == f("dense FFN", 16, 8, 8, 16) + 2 * 16 * 8 + 5 * 8
    assert f("BASE", 16, 8, 8, 16) == f("dense FFN", 16, 8, 8, 16) + 2 * 16 * 8 + 2 * 16 + 1


def test_load_cv_curve_and_unknown_method():
    np.testing.assert_allclose(load_cv_curve([[2, 2], [3, 1]]), [0.0, 0.5])
    with pytest.raises(ValueError, match="make_router: method must be one of"):
        moe_balanced.make_router("top-3", None, 4, 2, np.random.default_rng(0))


def test_flops_use_each_routers_own_count():
    from tinydyn.data.tasks import load_task

    task = load_task("token_rules", seed=0, n_train=20, n_val=2, n_test=2)
    rng = np.random.default_rng(0)
    for method in ("Expert Choice c=1", "BASE", "Hash (random)", "Hash (balanced)", "THOR"):
        router = moe_balanced.make_router(method, task, 16, 8, rng)
        base = moe_balanced.flops_per_token("dense FFN", 16, 8, 8, 16)
        assert moe_balanced.flops_per_token(method, 16, 8, 8, 16) == base + router.flops(1)
