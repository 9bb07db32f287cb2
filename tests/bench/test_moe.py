"""`tinydyn bench moe`: the suite's machinery on a tiny recipe (a few steps, a small layer)."""

import json

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.bench import EXPERIMENTS, moe
from tinydyn.bench.rows import check_rows


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny run of the whole suite (two seeds), shared by the tests below."""
    out = tmp_path_factory.mktemp("moe")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(moe, "MODEL", {**moe.MODEL, "steps": 4, "quick_steps": 3, "batch": 16})
        mp.setattr(moe, "LAYER", {"tokens": 64, "d_model": 8, "d_ff": 16, "experts": 4,
                                  "k": 2})
        result = moe.run_moe(out, seeds=2, repeats=1, log=None)
    return out, result


def test_moe_is_a_registered_experiment_suite():
    assert EXPERIMENTS["moe"] == "tinydyn.bench.moe"


def test_a_run_writes_every_method_over_the_seeds_and_the_verdicts(tiny_run):
    tmp_path, result = tiny_run
    assert [r["method"] for r in result["methods"]] == list(moe.METHODS)
    assert all(len(r["accuracy"]["values"]) == 2 for r in result["methods"])
    saved = json.loads((tmp_path / "moe.json").read_text())
    assert saved["seeds"] == [0, 1]
    assert (tmp_path / "moe.png").stat().st_size > 0
    text = (tmp_path / "moe.md").read_text()
    assert "Switch top-1, no balancing loss" in text and "## Targets" in text
    targets = [v["target"] for v in saved["verdicts"]]
    assert any("outside the experts' FFN" in t for t in targets)
    assert any("outside the experts' matrix products" in t for t in targets)
    assert any("load CV" in t for t in targets)
    # the capacity sweep drops more at a smaller capacity factor
    drop = {r["method"]: r["train_dropped"]["mean"] for r in saved["methods"]
            if "CF" in r["method"] and "prioritised" not in r["method"]}
    assert drop["Switch top-1, CF 0.5"] >= drop["Switch top-1, CF 2.0"]
    assert drop["Switch top-1, CF 0.5"] > 0.3      # C = S/(2E): at least half must drop


def test_table_rows_one_row_per_method_with_the_small_dense_mlp_as_baseline(tiny_run):
    tmp_path, _ = tiny_run
    saved = json.loads((tmp_path / "moe.json").read_text())
    rows = check_rows(moe.table_rows(saved), "moe")
    assert len(rows) == len(moe.METHODS)
    for row in rows:
        source = next(r for r in saved["methods"] if r["method"] == row["method"])
        assert row["family"] == "moe" and row["task"] == "regions" and row["n_seeds"] == 2
        assert row["accuracy"] == source["accuracy"]["mean"]
        assert row["accuracy_std"] == source["accuracy"]["std"]
        assert row["baseline"] == (row["method"] == "dense, d_ff hidden")
        times = saved["network_timing"]
        base = times["dense, d_ff hidden"]
        assert row["speedup_batch1"] == base["t_batch1_s"] / times[row["method"]]["t_batch1_s"]
        assert row["batch_size"] == moe.TIMING_BATCH and row["t_batched_s"] > 0
    knobs = {r["method"]: r["knob"] for r in rows}
    assert knobs["Switch top-1, CF 1.25"] == "capacity_factor = 1.25"
    assert knobs["Switch top-1"] is None


def test_the_torch_loop_computes_the_same_layer():
    torch = pytest.importorskip("torch")
    from tinydyn.dynamic.moe import MoELayer, SwitchRouter

    rng = np.random.default_rng(0)
    layer = MoELayer(SwitchRouter(8, 4, k=2, rng=rng), 8, 16, 4, rng=rng)
    x = Tensor(rng.standard_normal((32, 8)).astype(np.float32), requires_grad=True)
    (layer(x).sum() + layer.aux_loss).backward()
    step = moe._torch_loop(layer, x)
    captured = {}
    original = torch.Tensor.backward

    def spy(self, *args, **kwargs):
        captured["loss"] = float(self.detach())
        return original(self, *args, **kwargs)

    torch.Tensor.backward = spy
    try:
        step()
    finally:
        torch.Tensor.backward = original
    expected = float(layer(x).sum().data) + float(layer.aux_loss.data)
    assert captured["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-3)
