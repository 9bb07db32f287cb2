"""The published skimming table (bench-results/skimming.json) is what a rerun gives.

The full table takes minutes per seed, so the suite also publishes one short row made with
the same code, over the same seeds: the baseline's recipe for 2 epochs. This test reruns it on
the first published seed and checks it lands within the published spread over seeds (the
lowest to the highest seed's value, widened by ``TOLERANCE``). Not bit for bit: another CPU
rounds differently (SIMD exp, BLAS summation order), and a seed is one draw among others.
A stale table (made by another recipe) or a recipe that stopped learning fails it.
"""

import json
from pathlib import Path

import pytest

from tinydyn.data import load_task
from tinydyn.dynamic.skimming.common import train_lstm_baseline

PUBLISHED = Path(__file__).resolve().parents[2] / "bench-results" / "skimming.json"
TOLERANCE = 0.02  # accuracy, on top of the published min-max over seeds


@pytest.fixture(scope="module")
def published():
    if not PUBLISHED.exists():
        pytest.fail(f"{PUBLISHED} is missing: run `tinydyn bench skimming --threads 1`")
    return json.loads(PUBLISHED.read_text(encoding="utf-8"))


def test_the_published_table_is_a_full_run_over_at_least_three_seeds(published):
    assert not published["quick"]
    assert len(published["seeds"]) >= 3
    assert len(published["baseline"]["accuracy"]["values"]) == len(published["seeds"])


def test_the_published_baseline_learned_on_every_seed(published):
    base = published["baseline"]
    assert base["learned"] == len(published["seeds"])
    assert min(base["accuracy"]["values"]) > published["learned_threshold"]


def test_no_published_training_run_was_cut_short_by_its_time_cap(published):
    # every seed has a training set of the same size, so a full schedule has the same number
    # of steps on every seed; fewer steps on one seed means the time cap stopped it
    steps = [("LSTM", published["baseline"]["steps"])]
    steps += [(f"{m} {r['value']}", r["train_steps"]) for m, info in published["methods"].items()
              for r in info["rows"] if r.get("train_steps")]
    for name, s in steps:
        assert s["min"] == s["max"], f"{name}: steps {s['values']}"


def test_a_rerun_of_the_reproduction_row_lands_within_the_published_spread(published):
    row = published["reproduce"]
    seed = published["seeds"][0]
    _, metrics = train_lstm_baseline(load_task("sparse_signal", seed=seed), seed,
                                     epochs=row["epochs"])
    low = row["accuracy"]["min"] - TOLERANCE
    high = row["accuracy"]["max"] + TOLERANCE
    assert low <= metrics["accuracy"] <= high, (
        f"rerun {metrics['accuracy']:.3f}, published {row['accuracy']['values']} "
        f"(allowed [{low:.3f}, {high:.3f}])")


def test_the_readme_quotes_the_published_table(published):
    from tinydyn.bench.skimming_report import summary

    readme = (PUBLISHED.parents[1] / "README.md").read_text(encoding="utf-8")
    for line in summary(published):
        assert line in readme, f"README.md does not quote the published row: {line}"
