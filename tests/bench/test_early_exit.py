"""`tinydyn bench early_exit` end to end on a tiny configuration: the files, the verdicts and
the rows of the cross-method table (never asserting on time)."""

import json

import numpy as np
import pytest

from tinydyn.bench import early_exit as bench
from tinydyn.bench.early_exit_report import table_rows
from tinydyn.bench.rows import ROW_KEYS, check_rows


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("ee")
    mp = pytest.MonkeyPatch()
    mp.setattr(bench, "TASKS", {"easy_hard": {"model": "mlp", "width": 8, "depth": 3,
                                              "steps": 30, "quick_steps": 30}})
    mp.setattr(bench, "QUICK", {"easy_hard": ("PABEE (patience)", "entropy on PABEE model",
                                              "cascade 1 -> L layers")})
    mp.setattr(bench, "BATCHES", (4,))
    try:
        res = bench.run_early_exit(out, quick=True, seeds=2, repeats=1, log=None)
    finally:
        mp.undo()
    return res, out


def test_files_and_verdicts(result):
    res, out = result
    assert {p.name for p in out.iterdir()} >= {"early_exit.md", "early_exit.json",
                                               "early_exit.png"}
    saved = json.loads((out / "early_exit.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["verdicts"] == res["verdicts"]
    assert len(res["verdicts"]) == 5
    md = (out / "early_exit.md").read_text()
    assert "PABEE (patience)" in md and "Targets" in md
    spread = res["tasks"]["easy_hard"]["timing"]["spread"]
    assert spread["method"] == "entropy on PABEE model" and 1 <= spread["mean_layers"] < 3
    assert set(spread["times"]) == {"static", "wait-for-all", "compaction", "refill"}


def test_operating_points_are_consistent(result):
    res, _ = result
    rows = res["tasks"]["easy_hard"]["rows"]
    ops = [r for r in rows if r["value"] == "operating point"]
    assert {r["method"] for r in ops} == {"PABEE (patience)", "entropy on PABEE model",
                                          "cascade 1 -> L layers"}
    for r in ops:
        sweep = [s for s in rows if s["method"] == r["method"] and s["value"] !=
                 "operating point"]
        # the operating point is one of the sweep's points, on every seed
        for seed_i, acc in enumerate(r["accuracy"]["values"]):
            assert any(np.isclose(acc, s["accuracy"]["values"][seed_i]) for s in sweep)
        assert 1 <= r["mean_layers"]["mean"] <= 3 + 1  # the cascade pays 1 + 3 at most


def test_table_rows_follow_the_shared_format(result):
    res, _ = result
    rows = check_rows(table_rows(res), "early_exit")
    assert all(set(r) == set(ROW_KEYS) for r in rows)
    base = [r for r in rows if r["baseline"]]
    assert len(base) == 1 and base[0]["t_batch1_s"] > 0
    best = res["tasks"]["easy_hard"]["best"]
    row = next(r for r in rows if r["method"] == best)
    assert row["flop_speedup"] == pytest.approx(base[0]["flops"] / row["flops"])
    op = next(r for r in res["tasks"]["easy_hard"]["rows"] if r["method"] == best and
              r["value"] == "operating point")
    first_seed = op["full_flops"]["values"][0] / op["flops"]["values"][0]
    assert row["realisation"] == pytest.approx(row["speedup_batch1"] / first_seed)
    assert row["n_seeds"] == 2 and row["accuracy_std"] is not None
