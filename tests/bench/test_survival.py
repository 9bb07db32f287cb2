"""`tinydyn bench survival`: points, the latency check, the pages, and the skimming family."""

import json
import sys
import types

import numpy as np
import pytest

from tinydyn.bench import survival
from tinydyn.bench.survival import skimming


def _point(method, x, base_seconds, seconds, flops, steps=100, base_flops=1e6, batch=1,
           axis="size"):
    return {"family": "fam", "method": method, "axis": axis, "x_name": "width", "x": x,
            "batch_size": batch, "base_steps": steps, "base_flops": base_flops,
            "base_seconds": base_seconds, "steps": steps, "flops": flops, "seconds": seconds}


def _exact(a=1e-6, b=1e-9):
    """Points whose times follow a * steps + b * FLOPs exactly, baseline and methods alike."""
    points = []
    for x, base_flops in ((64, 1e6), (128, 4e6), (256, 1.6e7)):
        base = a * 100 + b * base_flops
        for method, share in (("half", 0.5), ("tenth", 0.1)):
            points.append(_point(method, x, base, a * 100 + b * share * base_flops,
                                 share * base_flops, base_flops=base_flops))
    return points


def test_add_ratios():
    p = survival.add_ratios(_point("m", 64, 2e-3, 1e-3, 2.5e5))
    assert (p["speedup"], p["flop_speedup"], p["realisation"]) == (2.0, 4.0, 0.5)


def test_latency_check_predicts_exactly_when_time_follows_the_model():
    check = survival.latency_check(_exact())
    assert check["fitted_on"] == 3
    assert check["per_step_s"] == pytest.approx(1e-6) and check["per_flop_s"] == pytest.approx(1e-9)
    assert max(abs(q["error"]) for q in check["predictions"]) < 1e-9


def test_latency_check_fits_on_the_size_sweep_only():
    points = _exact() + [_point("half", 128, 1.0, 0.1, 2e6, base_flops=4e6, batch=16,
                                axis="batch")]
    check = survival.latency_check(points)
    assert check["fitted_on"] == 3 and len(check["predictions"]) == 6


def test_run_survival_writes_pages_and_reports_a_failing_family(tmp_path, monkeypatch):
    good = types.ModuleType("fake_family")
    good.measure = lambda quick, seed, log: _exact()

    def broken(quick, seed, log):
        raise RuntimeError("no kernel")

    bad = types.ModuleType("fake_broken")
    bad.measure = broken
    monkeypatch.setitem(sys.modules, "fake_family", good)
    monkeypatch.setitem(sys.modules, "fake_broken", bad)
    monkeypatch.setattr(survival, "FAMILIES", {"fam": "fake_family", "bad": "fake_broken"})
    result = survival.run_survival(tmp_path, log=lambda *a: None)
    assert result["families"]["bad"]["status"] == "failed: RuntimeError: no kernel"
    stored = json.loads((tmp_path / "survival.json").read_text())
    assert len(stored["families"]["fam"]["points"]) == 6
    page = (tmp_path / "survival.md").read_text()
    assert "| half | width | 64 | 1 | 2.00x |" in page and "Within 25%: 6 of 6." in page
    assert (tmp_path / "survival_fam.png").is_file()


def test_skimming_points_pin_the_decisions():
    points = skimming.measure(quick=True, log=lambda *a: None)
    assert {p["method"] for p in points} == {"Skim-RNN", "VCRNN"}
    assert {(p["axis"], p["x"]) for p in points} == {("size", 64), ("size", 256),
                                                    ("batch", 1), ("batch", 16)}
    for p in points:
        flop_speedup = p["base_flops"] / p["flops"]
        # about half the tokens skimmed by a d/8 cell; VCRNN updates a quarter of the rows
        # of a plain RNN, against the LSTM's four gates
        assert 1.4 < flop_speedup < 2.2 if p["method"] == "Skim-RNN" else flop_speedup > 10
        assert p["seconds"] > 0 and p["base_seconds"] > 0


def test_dyconv_points_compare_one_layer_with_its_static_twin():
    from tinydyn.bench.survival import dyconv

    points = dyconv.measure(quick=True, log=lambda *a: None)
    assert [(p["axis"], p["x"]) for p in points] == [("size", 8), ("size", 32), ("batch", 1),
                                                    ("batch", 16)]
    for p in points:
        # DY-Conv costs a little more than the static conv, more so on small maps, and runs
        # more ops (pooling, the attention branch, the aggregation)
        assert 0.85 < p["base_flops"] / p["flops"] < 1.0
        assert p["steps"] > p["base_steps"] >= 1
    ratio = [p["base_flops"] / p["flops"] for p in points]
    assert ratio[0] < ratio[1]  # 8x8 maps: the overhead is a larger share than on 32x32


def test_moe_points_compare_with_the_dense_block_of_equal_parameters():
    from tinydyn.bench.survival import moe

    points = moe.measure(quick=True, log=lambda *a: None)
    assert [(p["axis"], p["x"]) for p in points] == [("size", 32), ("size", 128),
                                                    ("batch", 16), ("batch", 1024)]
    for p in points:
        # E/k = 4 minus the router and the combine
        assert 3.3 < p["base_flops"] / p["flops"] < 4.0


def test_pruning_points_keep_the_pinned_budget(monkeypatch):
    from tinydyn.bench.survival import pruning

    monkeypatch.setattr(pruning, "QUICK_LENGTHS", (20, 40))
    monkeypatch.setattr(pruning, "QUICK_BATCHES", (1, 3))
    monkeypatch.setattr(pruning, "AT_LENGTH", 20)
    points = pruning.measure(quick=True, log=lambda *a: None)
    assert [(p["axis"], p["x"]) for p in points] == [("size", 20), ("size", 40), ("batch", 1),
                                                    ("batch", 3)]
    for p in points:
        # 4 layers on 100%, 50%, 30% and 20% of the tokens: about 2x fewer FLOPs
        assert 1.6 < p["base_flops"] / p["flops"] < 2.6


def test_early_exit_pinned_run_evaluates_the_sum_of_the_exits():
    from tinydyn.bench.survival.early_exit import run_pinned
    from tinydyn.dynamic.early_exit import MultiExitMLP

    runner = MultiExitMLP(4, 3, width=8, depth=5, rng=np.random.default_rng(0)).runner()
    x = np.random.default_rng(1).standard_normal((7, 4)).astype(np.float32)
    exits = np.array([1, 5, 2, 2, 5, 3, 1])
    for batch in (1, 3, 7):
        assert run_pinned(runner, x, exits, batch) == exits.sum()


def test_early_exit_points_count_the_heads_passed():
    from tinydyn.bench.survival import early_exit

    points = early_exit.measure(quick=True, log=lambda *a: None)
    for p in points:
        assert p["base_steps"] == early_exit.DEPTH + 1  # every layer, one head
        layer_speedup = early_exit.DEPTH / (p["steps"] / 2)  # a layer and a head per layer
        assert 1.0 < p["base_flops"] / p["flops"] < layer_speedup  # heads cost FLOPs
