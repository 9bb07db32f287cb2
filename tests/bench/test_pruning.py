"""`tinydyn bench pruning` end to end on a tiny recipe, and its rows for the cross-method table."""

import json

import pytest

from tinydyn.bench import pruning
from tinydyn.bench.pruning_report import table_rows, verdicts
from tinydyn.bench.rows import ROW_KEYS, check_rows

TINY = {"batch": 8, "baseline_steps": 3, "ltp_soft": 2, "ltp_hard": 1, "transkimmer": 2,
        "power_bert": 1, "quick_factor": 1.0, "train_len": (8, 12), "eval_len": (10, 16),
        "n_eval": 10, "n_timed_b1": 2, "batch_timed": 4, "scaling_lengths": (8, 16),
        "n_scaling": 2}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    saved = dict(pruning.RECIPE), dict(pruning.SWEEPS)
    pruning.RECIPE.update(TINY)
    pruning.SWEEPS.update({"LTP": ("lambda", (0.05, 0.1), (0.05,)),
                           "Transkimmer": ("lambda", (0.5,), (0.5,)),
                           "PoWER-BERT": ("keep ratio", (0.5,), (0.5,))})
    try:
        res = pruning.run_pruning(out, quick=False, seeds=2, repeats=1, log=None)
    finally:
        pruning.RECIPE.clear()
        pruning.RECIPE.update(saved[0])
        pruning.SWEEPS.clear()
        pruning.SWEEPS.update(saved[1])
    return res, out


def test_the_run_writes_its_files_and_every_row_over_seeds(result):
    res, out = result
    for name in ("pruning.md", "pruning.json"):
        assert (out / name).is_file()
    assert json.loads((out / "pruning.json").read_text())["seeds"] == [0, 1]
    methods = [(r["method"], r["value"]) for r in res["rows"]]
    assert methods == [("Transformer", 0.0), ("LTP", 0.05), ("LTP", 0.1),
                       ("Transkimmer", 0.5), ("PoWER-BERT", 0.5)]
    for r in res["rows"][1:]:
        assert len(r["accuracy"]["values"]) == 2
        assert r["speedup_b1"]["mean"] > 0 and r["flop_speedup_b1"]["mean"] > 0
    lengths = {s["length"] for s in res["scaling"]["rows"]}
    assert lengths == {8, 16}
    md = (out / "pruning.md").read_text()
    assert "| LTP | lambda = 0.05 |" in md and "## Targets" in md


def test_table_rows_have_the_shared_keys_and_one_baseline(result):
    res, out = result
    rows = check_rows(table_rows(json.loads((out / "pruning.json").read_text())), "pruning")
    assert all(set(r) == set(ROW_KEYS) for r in rows)
    assert [r["baseline"] for r in rows] == [True] + [False] * 4
    base = rows[0]
    assert base["flop_speedup"] == 1.0 and base["n_seeds"] == 2
    ltp = rows[1]
    assert ltp["family"] == "pruning" and ltp["knob"] == "lambda = 0.05"
    assert ltp["realisation"] == pytest.approx(ltp["speedup_batch1"] / ltp["flop_speedup"])
    assert ltp["flops"] == pytest.approx(res["rows"][1]["flops"]["mean"])
    assert ltp["accuracy_std"] is not None


def test_verdicts_judge_the_most_accurate_knob_under_half_the_flops():
    def row(method, value, acc, flops, **extra):
        return {"method": method, "knob": "lambda", "value": value, "accuracy": acc,
                "flops": flops, "speedup_b1": 2.0, "speedup_batched": 1.2, **extra}
    result = {"rows": [row("Transformer", 0.0, 0.95, 100.0),
                       row("LTP", 0.1, 0.90, 30.0), row("LTP", 0.05, 0.945, 45.0),
                       row("LTP", 0.01, 0.96, 60.0), row("Transkimmer", 0.5, 0.97, 70.0)],
              "scaling": {"rows": [{"method": "LTP", "length": 256, "realisation": 0.8,
                                    "speedup_b1": 2.4, "flop_speedup": 3.0}]}}
    v = verdicts(result)
    ltp = [x for x in v if x["target"].startswith("LTP")]
    assert ltp[0]["met"] and "lambda = 0.05" in ltp[0]["measured"]
    assert ltp[1]["met"] and not ltp[2]["met"] and ltp[3]["met"]
    tk = [x for x in v if x["target"].startswith("Transkimmer")]
    assert len(tk) == 1 and not tk[0]["met"]


def test_from_results_rewrites_the_report_from_the_json(result, capsys):
    import argparse

    res, out = result
    (out / "pruning.md").write_text("stale", encoding="utf-8")
    args = argparse.Namespace(out=str(out), from_results=True, quick=False, seed=0, seeds=None,
                              repeats=15, quiet=True)
    assert pruning.main(args) == 0
    md = (out / "pruning.md").read_text(encoding="utf-8")
    assert md.startswith("# tinydyn bench pruning") and "## Targets" in md


def test_table_rows_name_the_task_with_its_lengths(result):
    res, _ = result
    assert {r["task"] for r in table_rows(res)} == {"sparse_signal (10-16 tokens)"}
