"""`tinydyn bench skimming`: the suite's machinery with stub sweeps (nothing is trained)."""

import json
import os

import numpy as np
import pytest

from tinydyn.bench import skimming
from tinydyn.data import load_task
from tinydyn.dynamic.skimming.common import LSTMClassifier


@pytest.fixture(scope="module")
def task():
    return load_task("sparse_signal", seed=0, n_train=8, n_val=4, n_test=12, max_len=60)


@pytest.fixture(scope="module")
def baseline(task):
    model = LSTMClassifier(task.vocab_size, task.num_classes, 8, 16,
                           rng=np.random.default_rng(0))
    lengths = np.array([len(task.test[i][0]) for i in range(len(task.test))])
    return model, {"accuracy": 0.90, "flops": float(model.flops(lengths).mean()),
                   "train_seconds": 0.0}


def _stub_sweep(name, rows_spec, calls, per_seed=0.0, paired=None):
    """A sweep returning fixed rows; FLOPs and time are fractions of the baseline's. The
    accuracy moves by ``per_seed`` per seed; ``paired`` is an LSTM batch-1 time the sweep
    says it measured side by side with its rows."""
    def sweep(task, baseline, *, seed=0, quick=False, sequences=None, time_limit=55.0):
        calls.append({"seed": seed, "quick": quick, "n": len(sequences),
                      "time_limit": time_limit})
        model, metrics = baseline
        timed = float(model.flops(np.array([len(s) for s in sequences])).mean())
        extra = {} if paired is None else {"lstm_time_b1": paired}
        return [{"method": name, "knob": "k", "value": v, "accuracy": acc + per_seed * seed,
                 **extra,
                 "flops": frac * metrics["flops"], "flops_timed": frac * timed,
                 "time_b1": tfrac * 1e-3, "time_batched": tfrac * 1e-3,
                 "train_seconds": 1.0} for v, acc, frac, tfrac in rows_spec]
    return sweep


def _run(tmp_path, task, baseline, sweeps):
    return skimming.run_skimming(tmp_path, sweeps=sweeps, task=task, baseline=baseline,
                                 quick=True, seed=3, time_limit=9.0, log=None)


def test_writes_table_json_and_both_plots(tmp_path, task, baseline):
    calls = []
    sweeps = {"A": _stub_sweep("A", [(0.1, 0.95, 0.2, 0.3), (0.2, 0.96, 0.4, 0.5)], calls),
              "B": "not available (no sweep_b in somewhere)"}
    _run(tmp_path, task, baseline, sweeps)
    for name in ("skimming.md", "skimming.json", "skimming_flops.png", "skimming_time.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    md = (tmp_path / "skimming.md").read_text()
    assert "![accuracy against FLOPs](skimming_flops.png)" in md
    assert "![accuracy against batch-1 time](skimming_time.png)" in md
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| method | knob | value | accuracy % | learned | gap (pt) | "
                               "FLOPs % of LSTM")
    assert [line.split("|")[1].strip() for line in table[1:]] == ["LSTM (baseline)", "A", "A"]
    assert "| A | k | 0.1 | 95.0 | 1/1 | -5.0 | 20.0% |" in md
    assert "- **B**: not available (no sweep_b in somewhere)." in md


def test_sweeps_get_the_shared_sequences_and_options(tmp_path, task, baseline):
    calls = []
    _run(tmp_path, task, baseline, {"A": _stub_sweep("A", [(1, 0.9, 0.5, 0.5)], calls)})
    assert calls == [{"seed": 3, "quick": True, "n": 12, "time_limit": 9.0}]


def test_json_rows_carry_ratios_against_the_lstm(tmp_path, task, baseline):
    sweeps = {"A": _stub_sweep("A", [(0.1, 0.95, 0.25, 0.5)], [])}
    _run(tmp_path, task, baseline, sweeps)
    result = json.loads((tmp_path / "skimming.json").read_text())
    base = result["baseline"]
    assert base["method"] == "LSTM" and result["n_timed"] == 12 and base["value"] is None
    row = result["methods"]["A"]["rows"][0]
    assert row["flops_fraction"]["mean"] == pytest.approx(0.25)
    assert row["flop_speedup"]["mean"] == pytest.approx(4.0)
    assert row["speedup"]["mean"] == pytest.approx(base["time_b1"]["mean"] / 0.5e-3)
    assert row["realisation"]["mean"] == pytest.approx(row["speedup"]["mean"] / 4.0)
    assert row["accuracy_gap"]["values"] == [pytest.approx(-0.05)]


def test_several_seeds_give_mean_and_spread_per_row(tmp_path, task, baseline):
    calls = []
    sweeps = {"A": _stub_sweep("A", [(0.1, 0.90, 0.2, 0.3)], calls, per_seed=0.02)}
    result = skimming.run_skimming(tmp_path, sweeps=sweeps, task=task, baseline=baseline,
                                   seeds=[0, 1, 2], log=None)
    assert [c["seed"] for c in calls] == [0, 1, 2] and result["seeds"] == [0, 1, 2]
    acc = result["methods"]["A"]["rows"][0]["accuracy"]
    assert acc["values"] == [pytest.approx(0.90), pytest.approx(0.92), pytest.approx(0.94)]
    assert "| A | k | 0.1 | 92.0 ± 2.0 | 3/3 |" in (tmp_path / "skimming.md").read_text()


def test_a_count_of_seeds_starts_at_seed(tmp_path, task, baseline):
    calls = []
    skimming.run_skimming(tmp_path, sweeps={"A": _stub_sweep("A", [(1, 0.9, 0.5, 0.5)], calls)},
                          task=task, baseline=baseline, seed=4, seeds=2, log=None)
    assert [c["seed"] for c in calls] == [4, 5]


def test_seeds_below_the_learned_threshold_are_counted_as_failures(tmp_path, task, baseline):
    sweeps = {"A": _stub_sweep("A", [(1, 0.5, 0.5, 0.5)], [], per_seed=0.2)}
    result = skimming.run_skimming(tmp_path, sweeps=sweeps, task=task, baseline=baseline,
                                   seeds=[0, 1], log=None)
    info = result["methods"]["A"]
    assert info["rows"][0]["learned"] == 1
    assert info["best_row_failures"] == {"failed": 1, "of": 2, "rate": 0.5}


def test_speed_up_uses_the_lstm_time_measured_beside_the_row(tmp_path, task, baseline):
    sweeps = {"A": _stub_sweep("A", [(1, 0.9, 0.5, 0.5)], [], paired=2e-3)}
    result = _run(tmp_path, task, baseline, sweeps)
    assert result["methods"]["A"]["rows"][0]["speedup"]["mean"] == pytest.approx(4.0)


def test_the_page_names_its_targets_and_never_points_at_an_issue(tmp_path, task, baseline):
    _run(tmp_path, task, baseline, {"A": _stub_sweep("A", [(1, 0.9, 0.5, 0.5)], [])})
    md = (tmp_path / "skimming.md").read_text()
    assert "issue" not in md.lower()
    assert "the papers' claim, the same accuracy for half the work" in md
    assert "Quick run" in md and "one seed instead of three" in md


def test_verdicts_say_met_or_by_how_much_missed():
    def row(value, gap, frac, speedup, real):
        return {"value": value, "accuracy_gap": gap, "flops_fraction": frac,
                "speedup": speedup, "realisation": real}

    v = skimming.verdicts([row(0.1, 0.005, 0.3, 2.0, 0.4), row(0.4, 0.0, 0.8, 3.0, 0.9)])
    assert v["accuracy"]["met"] and v["accuracy"]["row"] == 0.1
    # speed is judged on the rows meeting the accuracy target only (the first)
    assert v["speedup"] == {"met": True, "row": 0.1, "value": 2.0, "missed_by": 0.0}
    assert not v["realisation"]["met"]
    assert v["realisation"]["missed_by"] == pytest.approx(0.3)
    missed = skimming.verdicts([row(0.1, 0.03, 0.3, 1.0, 0.5)])
    assert not missed["accuracy"]["met"]
    assert missed["accuracy"]["missed_by"] == pytest.approx(0.02)
    assert missed["judged_on"] == "rows spending under 90% of the LSTM's FLOPs"


def test_verdicts_do_not_judge_realisation_on_a_row_that_saves_nothing():
    def row(value, frac, real):
        return {"value": value, "accuracy_gap": 0.05, "flops_fraction": frac,
                "speedup": 1.0 / frac * real, "realisation": real}

    # a threshold that never skims spends all the LSTM's FLOPs at realisation ~1
    v = skimming.verdicts([row(0.5, 0.15, 0.6), row(1.0, 1.01, 1.04)])
    assert v["realisation"]["row"] == 0.5 and not v["realisation"]["met"]
    assert v["judged_on"] == "rows spending under 90% of the LSTM's FLOPs"


def test_verdicts_name_a_row_only_if_it_meets_every_target_at_once():
    def row(value, speedup, real):
        return {"value": value, "accuracy_gap": 0.0, "flops_fraction": 0.3,
                "speedup": speedup, "realisation": real}

    # the best speed-up and the best realisation come from different rows: no single winner
    split = skimming.verdicts([row(1, 3.0, 0.5), row(2, 1.2, 0.9)])
    assert split["speedup"]["met"] and split["realisation"]["met"]
    assert split["all_in_one_row"] is None
    assert skimming.verdicts([row(1, 3.0, 0.5), row(2, 1.8, 0.9)])["all_in_one_row"] == 2


def test_a_failing_sweep_is_reported_and_the_others_still_run(tmp_path, task, baseline):
    def broken(task, baseline, **kw):
        raise RuntimeError("boom")

    sweeps = {"Broken": broken, "A": _stub_sweep("A", [(1, 0.9, 0.5, 0.5)], [])}
    result = _run(tmp_path, task, baseline, sweeps)
    assert result["methods"]["Broken"]["status"] == "failed on seed 3 (RuntimeError: boom)"
    assert result["methods"]["A"]["status"] == "ok"
    md = (tmp_path / "skimming.md").read_text()
    assert "- **Broken**: failed on seed 3 (RuntimeError: boom)." in md


def test_find_sweeps_lists_vcrnn_and_names_missing_methods():
    found = skimming.find_sweeps()
    assert set(found) == {"VCRNN", "Skim-RNN", "LSTM-Jump"}
    assert callable(found["VCRNN"])
    for method, sweep in found.items():
        assert callable(sweep) or sweep.startswith("not available"), method


def test_cli_rejects_an_unknown_suite_and_lists_skimming(capsys):
    from tinydyn.cli import main

    assert main(["bench", "nope"]) == 2
    assert "skimming" in capsys.readouterr().err


# ---- the real VCRNN sweep, on a tiny task (a smoke test of the contract, not a training run) ----

CONTRACT = {"method", "knob", "value", "accuracy", "flops", "flops_timed", "time_b1",
            "time_batched", "train_seconds"}


def test_sweep_vcrnn_returns_one_contract_row_per_ratio(task, baseline):
    from tinydyn.dynamic.skimming.vcrnn_experiment import sweep_vcrnn

    sequences = [np.asarray(task.test[i][0]) for i in range(3)]
    rows = sweep_vcrnn(task, baseline, quick=True, sequences=sequences, ratios=(0.1, 0.3))
    assert [(r["method"], r["knob"], r["value"]) for r in rows] == [
        ("VCRNN", "target_ratio", 0.1), ("VCRNN", "target_ratio", 0.3)]
    for r in rows:
        assert CONTRACT <= set(r)
        assert 0 <= r["accuracy"] <= 1 and r["flops"] > 0 and r["time_b1"] > 0


def test_sweep_vcrnn_rejects_a_bad_time_limit(task, baseline):
    from tinydyn.dynamic.skimming.vcrnn_experiment import sweep_vcrnn

    with pytest.raises(ValueError, match="sweep_vcrnn.*time_limit"):
        sweep_vcrnn(task, baseline, time_limit=0.0)


@pytest.mark.skipif(not os.environ.get("TINYDYN_SLOW_TESTS"),
                    reason="a real `tinydyn bench skimming --quick` (~1 min): "
                           "TINYDYN_SLOW_TESTS=1")
def test_cli_quick_run_writes_the_results(tmp_path):
    from tinydyn.cli import main

    assert main(["bench", "skimming", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "skimming.json").read_text())
    assert result["quick"] and result["methods"]["VCRNN"]["status"] == "ok"
    assert len(result["methods"]["VCRNN"]["rows"]) == 2


def test_summary_quotes_means_and_spreads_of_the_chosen_rows(tmp_path, task, baseline):
    from tinydyn.bench.skimming_report import summary

    sweeps = {"A": _stub_sweep("A", [(0.1, 0.90, 0.2, 0.3), (0.2, 0.5, 0.1, 0.1)], [],
                               per_seed=0.02)}
    result = skimming.run_skimming(tmp_path, sweeps=sweeps, task=task, baseline=baseline,
                                   seeds=[0, 1], log=None)
    lines = summary(result, {"A": 0.1, "Missing": 1.0})
    assert lines[2].startswith("| A, k = 0.1 | 91.0 ± 1.4 | 2/2 | 20.0 ± 0.0 |")
    assert lines[3].startswith("| Missing | not run |")
