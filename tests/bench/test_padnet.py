"""`tinydyn bench padnet`: the suite's machinery on a tiny recipe (a few steps, two seeds)."""

import json

import pytest

from tinydyn.bench import EXPERIMENTS, padnet
from tinydyn.bench.rows import ROW_KEYS, check_rows


@pytest.fixture
def tiny(monkeypatch):
    tiny = {"steps": 3, "quick_steps": 2, "batch": 8, "score_batches": 2, "score_batch": 8,
            "iterations": 2, "timed_batch": 4}
    monkeypatch.setattr(padnet, "TASKS", {name: {**recipe, **tiny}
                                          for name, recipe in padnet.TASKS.items()})
    monkeypatch.setattr(padnet, "KAPPAS", (0.1, 0.5))
    monkeypatch.setattr(padnet, "QUICK_KAPPAS", (0.3,))


def test_padnet_is_a_registered_experiment_suite():
    assert EXPERIMENTS["padnet"] == "tinydyn.bench.padnet"


def test_a_run_writes_every_row_over_the_seeds_and_its_shared_rows(tiny, tmp_path):
    result = padnet.run_padnet(tmp_path, seeds=2, repeats=1, log=None)
    for task, recipe in padnet.TASKS.items():
        rows = [r for r in result["rows"] if r["task"] == task]
        methods = [(r["method"], r["value"]) for r in rows]
        assert methods[:2] == [(recipe["static"], 0.0), (recipe["full"], 0.0)]
        assert len(methods) == 2 + len(padnet.PARTITIONS) * 2
        assert all(len(r["accuracy"]["values"]) == 2 for r in rows)
        for r in rows[2:]:
            # the served (post-processed) model predicts what the masked model predicts
            assert r["max_output_diff"]["max"] <= 1e-5 and r["same_predictions"]["min"] == 1.0
            assert r["accuracy"]["values"] == r["masked_accuracy"]["values"]
            assert r["params"]["mean"] < rows[1]["params"]["mean"]
        imp_row = next(r for r in rows if r["method"] == "PAD IMP" and r["value"] == 0.1)
        assert imp_row["imp_achieved_per_seed"][0][-1] == pytest.approx(0.1, abs=0.01)
    saved = json.loads((tmp_path / "padnet.json").read_text())
    assert saved["seeds"] == [0, 1]
    text = (tmp_path / "padnet.md").read_text()
    assert "PAD magnitude" in text and "## piecewise" in text
    assert (tmp_path / "padnet.png").stat().st_size > 0
    rows = check_rows(padnet.table_rows(saved), "padnet")
    assert all(tuple(row) == ROW_KEYS for row in rows)
    assert [row["method"] for row in rows if row["baseline"]] == [
        "fully dynamic DY-Conv", "fully dynamic MoE"]
    assert rows[1]["speedup_batch1"] == 1.0 and rows[1]["flop_speedup"] == 1.0
    assert {row["knob"] for row in rows[2:10]} == {"kappa = 0.1", "kappa = 0.5"}


def test_quick_runs_one_seed_and_fewer_rows(tiny, tmp_path):
    result = padnet.run_padnet(tmp_path, quick=True, repeats=1, log=None)
    assert result["seeds"] == [0]
    digits = [r["method"] for r in result["rows"] if r["task"] == "digits"]
    assert digits[2:] == ["PAD IMP", "PAD random"]


def test_the_published_results_give_valid_shared_rows():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench-results" / "padnet.json"
    if not path.is_file():
        pytest.skip("no published bench-results/padnet.json")
    result = json.loads(path.read_text())
    rows = check_rows(padnet.table_rows(result), "padnet")
    assert {row["task"] for row in rows} == set(result["recipes"])
    assert all(row["n_seeds"] == len(result["seeds"]) >= 3 for row in rows)
    assert all(row["accuracy_std"] is not None for row in rows)
