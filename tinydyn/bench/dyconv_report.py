"""`tinydyn bench dyconv`'s report: the verdict per target, the Markdown page, and the rows of
the cross-method table (:func:`table_rows`), all from the dict written to ``dyconv.json``."""

from __future__ import annotations

from tinydyn.bench.harness import format_table
from tinydyn.bench.rows import make_row, ratio, realisation
from tinydyn.bench.seeds import format_spread, is_spread, mean_of

__all__ = ["BASELINE", "DYNAMIC", "format_markdown", "table_rows", "verdicts"]

BASELINE, DYNAMIC = "static CNN", "DY-Conv K=4"


def _row(rows, method):
    return next((r for r in rows if r["method"] == method), None)


def _best_static(rows):
    """The static row with the highest mean test accuracy (the margin is taken against it)."""
    static = [r for r in rows if r.get("value") == "static"] or [_row(rows, BASELINE)]
    return max(static, key=lambda r: mean_of(r["accuracy"]))


def verdicts(result, timing_rows) -> list:
    """(target, measured, met?) for each target, in words."""
    targets, out = result["targets"], []
    for task_name, rows in result["tasks"].items():
        key = f"{task_name}_margin"
        if key not in targets:
            continue
        dy, st = _row(rows, DYNAMIC), _best_static(rows)
        margin = mean_of(dy["accuracy"]) - mean_of(st["accuracy"])
        out.append({"target": f"{task_name}: DY-Conv - best static CNN >= "
                              f"{100 * targets[key]:.0f} points",
                    "measured": f"{100 * margin:+.1f} points ({st['method']})",
                    "met": margin >= targets[key]})
    for task_name, rows in result["tasks"].items():
        dy, st = _row(rows, DYNAMIC), _row(rows, BASELINE)
        over = mean_of(dy["flops"]) / mean_of(st["flops"]) - 1
        out.append({"target": f"{task_name} network: FLOP overhead <= 5%",
                    "measured": f"{100 * over:.1f}%", "met": over <= targets["flop_overhead"]})
    over = result["layer"]["overhead"]
    out.append({"target": "timed layer (16->32, 16x16): FLOP overhead <= 5%",
                "measured": f"{100 * over:.1f}%", "met": over <= targets["flop_overhead"]})
    for r in timing_rows:
        if r.target is not None:
            measured = f"{r.ratio:.2f}x" if r.ratio is not None else f"skipped: {r.skipped}"
            out.append({"target": f"layer fwd+bwd vs {r.baseline} <= {r.target:g}x",
                        "measured": measured, "met": r.ratio is not None and r.ratio <= r.target})
    return out


def _task_table(result, task_name, rows) -> list:
    recipe = result["recipes"][task_name]
    quick = result["quick"]
    steps = recipe["quick_steps" if quick else "steps"]
    anneal = int(round(recipe["anneal_fraction"] * steps))
    lines = [f"## {task_name} (width {recipe['width']}, 2 conv layers, {steps} Adam steps of "
             f"{recipe['batch']}; DY-Conv's temperature 30 -> 1 over the first {anneal} steps)",
             "", "| method | lr | test accuracy % | range | train accuracy % | params | "
             "FLOPs / input | vs static | ms / input, batch 1 | µs / input, batch "
             f"{result['timing_batch']} |", "|---|---|---|---|---|---|---|---|---|---|"]
    static = mean_of(_row(rows, BASELINE)["flops"])
    times = result["network_timing"].get(task_name, {})
    for r in rows:
        flops = mean_of(r["flops"])
        t = times.get(r["method"], {})
        t1 = f"{1e3 * t['t_batch1_s']:.2f}" if t.get("t_batch1_s") else "-"
        tb = f"{1e6 * t['t_batched_s']:.0f}" if t.get("t_batched_s") else "-"
        lr = f"{mean_of(r['lr']):g}" if r.get("lr") is not None else "-"
        lines.append(f"| {r['method']} | {lr} | {format_spread(r['accuracy'], 100)} | "
                     f"{format_spread(r['accuracy'], 100, style='range').split(' ', 1)[-1]} | "
                     f"{format_spread(r['train_accuracy'], 100)} | {int(mean_of(r['params']))} "
                     f"| {flops:,.0f} | {100 * (flops / static - 1):+.1f}% | {t1} | {tb} |")
    return lines + [""]


def format_markdown(result, timing_rows) -> str:
    seeds = result["seeds"]
    lines = [f"# tinydyn bench dyconv{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}", "",
             f"Seeds {seeds}; accuracy on the test split, mean ± std over seeds (min–max); "
             "train accuracy on (up to) 1000 training images. Every method gets the same "
             "budget: same steps, batch, data order and initial seed, at the learning rate "
             "of its row. Network times: "
             "inference (eval mode, no gradient), median of alternating warm blocks.", ""]
    for task_name, rows in result["tasks"].items():
        lines += _task_table(result, task_name, rows)
    lines += ["## FLOP overhead against the map size", "",
              "The digits network (width 4, K = 4) on square inputs of growing size: FLOPs per "
              "input counted by the op-level counter. The aggregation costs 2K FLOPs per kernel "
              "weight once per input, the convolution 2 per weight per output pixel, so their "
              "ratio is K / (Ho Wo): it is the map size, not the method, that sets the "
              "overhead.", "",
              "| input | static FLOPs | DY-Conv FLOPs | overhead | of which aggregation "
              "| K / (H W) |", "|---|---|---|---|---|---|"]
    for r in result["overhead_by_size"]:
        lines.append(f"| {r['size']}x{r['size']} | {r['static_flops']:,.0f} | "
                     f"{r['dyconv_flops']:,.0f} | {100 * r['overhead']:.1f}% | "
                     f"{100 * r['aggregation_share']:.1f}% | {100 * r['bound']:.1f}% |")
    cost = result["layer"]["cost"]
    lines += ["", "## The timed layer's cost per input (FLOPs)", "",
              "| pool | routing | aggregation | conv | total | overhead over the conv |",
              "|---|---|---|---|---|---|",
              f"| {cost['pool']:,} | {cost['routing']:,} | {cost['aggregation']:,} | "
              f"{cost['conv']:,} | {cost['total']:,} | {100 * result['layer']['overhead']:.1f}% |",
              "", "## Layer timing (forward + backward)", "", format_table(timing_rows), "",
              "## Targets", "", "| target | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'met' if v['met'] else 'MISSED'} |")
    lines += ["", "FLOPs: 2 per multiply-add, counted by tinydyn.measure.FlopCounter in eval mode "
              "(BatchNorm, ReLU, pooling and the head included, the same in every method)."]
    if result.get("notes"):
        lines += [""] + [f"- {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"


def _stat(value, key="mean"):
    if value is None:
        return None
    return float(value[key]) if is_spread(value) else float(value)


def table_rows(result: dict) -> list[dict]:
    """The rows of :mod:`tinydyn.bench.rows`: every method on every task, the static CNN of
    the same width as each task's baseline. Times are network inference per input; DY-Conv
    adds FLOPs, so its ``flop_speedup`` and speed-ups are below 1."""
    n = len(result["seeds"])
    rows = []
    for task_name, methods in result["tasks"].items():
        times = result.get("network_timing", {}).get(task_name, {})
        base_t = times.get(BASELINE, {})
        base_flops = mean_of(_row(methods, BASELINE)["flops"])
        for r in methods:
            t = times.get(r["method"], {})
            flops = mean_of(r["flops"])
            speedup1 = ratio(base_t.get("t_batch1_s"), t.get("t_batch1_s"))
            speedup_b = ratio(base_t.get("t_batched_s"), t.get("t_batched_s"))
            flop_speedup = base_flops / flops
            rows.append(make_row(
                family="dyconv", method=r["method"], task=task_name,
                knob=f"lr = {mean_of(r['lr']):g}" if r.get("lr") is not None else None,
                accuracy=_stat(r["accuracy"]),
                accuracy_std=_stat(r["accuracy"], "std") if n > 1 else None, n_seeds=n,
                flops=flops, params=int(mean_of(r["params"])),
                t_batch1_s=t.get("t_batch1_s"), t_batched_s=t.get("t_batched_s"),
                batch_size=result.get("timing_batch") if t.get("t_batched_s") else None,
                speedup_batch1=speedup1, speedup_batched=speedup_b, flop_speedup=flop_speedup,
                realisation=realisation(speedup1, flop_speedup),
                baseline=r["method"] == BASELINE))
    return rows

