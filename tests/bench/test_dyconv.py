"""`tinydyn bench dyconv`: the suite's machinery on tiny recipes (a few steps, a tiny layer)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.bench import EXPERIMENTS, dyconv
from tinydyn.bench.rows import check_rows
from tinydyn.dynamic.dyconv import DynamicConv2d


@pytest.fixture
def tiny(monkeypatch):
    tasks = {name: {**recipe, "steps": 3, "quick_steps": 2, "batch": 8}
             for name, recipe in dyconv.TASKS.items()}
    monkeypatch.setattr(dyconv, "TASKS", tasks)
    monkeypatch.setattr(dyconv, "LAYER", {"batch": 2, "in": 2, "out": 4, "size": 5,
                                          "kernels": 2})
    monkeypatch.setattr(dyconv, "TIMING_BATCH", 4)


def test_dyconv_is_a_registered_experiment_suite():
    assert EXPERIMENTS["dyconv"] == "tinydyn.bench.dyconv"


def test_a_run_writes_every_method_over_the_seeds_and_a_verdict_per_target(tiny, tmp_path):
    result = dyconv.run_dyconv(tmp_path, seeds=2, repeats=1, log=None)
    for rows in result["tasks"].values():
        assert [r["method"] for r in rows] == list(dyconv.METHODS)
        assert all(len(r["accuracy"]["values"]) == 2 for r in rows)
    assert len(result["verdicts"]) == 2 + 2 + 1 + 2
    saved = json.loads((tmp_path / "dyconv.json").read_text())
    assert saved["seeds"] == [0, 1]
    text = (tmp_path / "dyconv.md").read_text()
    assert "static CNN" in text and "batch-averaged attention" in text
    assert [r["size"] for r in saved["overhead_by_size"]] == [8, 16, 32, 64]
    for task_name, times in saved["network_timing"].items():
        assert set(times) == set(dyconv.METHODS), task_name
        assert all(t["t_batch1_s"] > 0 and t["t_batched_s"] > 0 for t in times.values())
    _check_table_rows(saved)


def _check_table_rows(saved):
    """One row per method and task, the static CNN the baseline, values from the JSON."""
    rows = check_rows(dyconv.table_rows(saved), "dyconv")
    assert len(rows) == len(dyconv.TASKS) * len(dyconv.METHODS)
    for row in rows:
        task = saved["tasks"][row["task"]]
        source = next(r for r in task if r["method"] == row["method"])
        assert row["family"] == "dyconv" and row["n_seeds"] == 2
        assert row["accuracy"] == source["accuracy"]["mean"]
        assert row["accuracy_std"] == source["accuracy"]["std"]
        assert row["baseline"] == (row["method"] == "static CNN")
        times = saved["network_timing"][row["task"]]
        base = times["static CNN"]
        assert row["speedup_batch1"] == base["t_batch1_s"] / times[row["method"]]["t_batch1_s"]
        assert row["batch_size"] == 4
        static_flops = next(r for r in task if r["method"] == "static CNN")["flops"]["mean"]
        assert row["flop_speedup"] == static_flops / row["flops"]
        assert row["realisation"] == row["speedup_batch1"] / row["flop_speedup"]
    dy = next(r for r in rows if r["method"] == "DY-Conv K=4")
    assert dy["flop_speedup"] < 1  # DY-Conv adds FLOPs


def test_quick_runs_the_quick_methods_on_one_seed(tiny, tmp_path):
    result = dyconv.run_dyconv(tmp_path, quick=True, repeats=1, log=None)
    assert result["seeds"] == [0]
    assert [r["method"] for r in result["tasks"]["digits"]] == list(dyconv.QUICK_METHODS)


def test_the_torch_twin_computes_the_same_layer():
    torch = pytest.importorskip("torch")
    layer = DynamicConv2d(3, 4, 3, num_kernels=2, padding=1, rng=np.random.default_rng(0))
    data = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype(np.float32)
    captured = {}
    original = torch.nn.functional.conv2d

    def spy(*args, **kwargs):
        captured["y"] = original(*args, **kwargs)
        return captured["y"]

    torch.nn.functional.conv2d = spy
    try:
        dyconv._torch_per_sample(layer, data)()
    finally:
        torch.nn.functional.conv2d = original
    np.testing.assert_allclose(captured["y"].detach().numpy().reshape(2, 4, 5, 5),
                               layer(Tensor(data)).data, rtol=1e-4, atol=1e-5)


def test_the_published_results_give_valid_shared_rows():
    path = Path(__file__).resolve().parents[2] / "bench-results" / "dyconv.json"
    if not path.is_file():
        pytest.skip("no published bench-results/dyconv.json")
    result = json.loads(path.read_text())
    rows = check_rows(dyconv.table_rows(result), "dyconv")
    assert {r["task"] for r in rows} == set(result["tasks"])
    assert all(r["n_seeds"] == len(result["seeds"]) for r in rows)
