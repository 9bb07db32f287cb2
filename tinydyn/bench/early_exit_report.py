"""The pages `tinydyn bench early_exit` writes (Markdown, plot) and its rows for the
cross-method table (``table_rows``)."""

from __future__ import annotations

from tinydyn.bench.rows import make_row, realisation
from tinydyn.bench.seeds import format_spread, mean_of

__all__ = ["format_markdown", "plot", "table_rows", "timed_flop_speedup"]


def _first(value):
    """The first seed's value of a spread (the seed whose models are timed)."""
    return value["values"][0] if isinstance(value, dict) else float(value)


def timed_flop_speedup(row) -> float:
    """The FLOP speed-up of the timed model (the first seed's), which a measured speed-up is
    divided by to give the realisation (the mean over seeds would mix models)."""
    return _first(row["full_flops"]) / _first(row["flops"])


def _ops(result, task_name):
    return [r for r in result["tasks"][task_name]["rows"] if r["value"] == "operating point"]


def _batch1(result, task_name, method):
    b1 = result["tasks"][task_name]["timing"]["batch1"].get(method)
    return (b1["early exit"], b1["static"] / b1["early exit"], b1["static"]) if b1 else \
        (None, None, None)


def format_markdown(result) -> str:
    from tinydyn.bench.early_exit import METHODS, TASKS

    lines = [f"# tinydyn bench early_exit{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}", "",
             f"Seeds {result['seeds']}; test accuracy, mean ± std over seeds. The operating "
             "point of each policy is chosen on the validation split (fewest FLOPs within "
             f"{100 * result['targets']['val_margin']:.1f} point of the full model there). "
             "FLOPs per input include every exit head passed and its exit test; the full "
             "model is the same backbone with all layers and one classifier.", ""]
    for task_name, info in result["tasks"].items():
        recipe = TASKS[task_name]
        steps = recipe["quick_steps" if result["quick"] else "steps"]
        lines += [f"## {task_name} ({recipe['model']}, {recipe['depth']} layers of width "
                  f"{recipe['width']}, {steps} Adam steps)", "",
                  "| method | knob at the operating point | test accuracy % | full model % | "
                  "mean layers | FLOPs / input | FLOP speed-up | batch-1 speed-up | ELUE "
                  "(points) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in _ops(result, task_name):
            knob = METHODS[r["method"]][2]
            flop_sp = mean_of(r["full_flops"]) / mean_of(r["flops"])
            _, s1, _ = _batch1(result, task_name, r["method"])
            lines.append(
                f"| {r['method']} | {knob} = {format_spread(r['knob_value'], 1, 3)} | "
                f"{format_spread(r['accuracy'], 100)} | {format_spread(r['full_accuracy'], 100)}"
                f" | {format_spread(r['mean_layers'], 1, 2)} / {int(mean_of(r['depth']))} | "
                f"{mean_of(r['flops']):,.0f} | {flop_sp:.2f}x | "
                f"{'-' if s1 is None else f'{s1:.2f}x'} | "
                f"{format_spread(r['elue_points'], 1, 2)} |")
        lines += ["", f"Timed engines ({info['best']}, seconds per input, seed "
                  f"{result['seeds'][0]}'s model):", "",
                  "| batch | static | wait-for-all | compaction | refill |",
                  "|---|---|---|---|---|"]
        for batch, t in info["timing"]["batched"].items():
            cells = " | ".join(f"{1e6 * t[k]:.1f} us ({t['static'] / t[k]:.2f}x)"
                               for k in ("wait-for-all", "compaction", "refill"))
            lines.append(f"| {batch} | {1e6 * t['static']:.1f} us | {cells} |")
        spread = info["timing"].get("spread")
        if spread:
            t = spread["times"]
            cells = " | ".join(f"{1e6 * t[k]:.1f} us ({t['static'] / t[k]:.2f}x)"
                               for k in ("wait-for-all", "compaction", "refill"))
            lines += ["", f"Where exits spread ({spread['method']}, {spread['knob']:.3g}: "
                      f"{spread['mean_layers']:.2f} layers on average, FLOP speed-up "
                      f"{spread['flop_speedup']:.2f}x):", "",
                      "| batch | static | wait-for-all | compaction | refill |",
                      "|---|---|---|---|---|",
                      f"| {spread['batch']} | {1e6 * t['static']:.1f} us | {cells} |"]
        lines.append("")
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'met' if v['met'] else 'MISSED'} |")
    lines += ["", "Batch 1 for the MLP runs the compiled exit loop (and the compiled static "
              "loop for the full model); for the Transformer both run through the same "
              "array runner. Speed-ups compare candidates timed in the same run in "
              "alternating warm blocks, on the first seed's models (the realisation divides by "
              f"that model's FLOP speed-up), by {result.get('clock', 'wall-clock time')}."]
    return "\n".join(lines) + "\n"


def plot(result, path) -> None:
    """Accuracy against FLOPs per task: each policy's sweep over the truncated static models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinydyn.measure.elue import plot_against_reference

    tasks = list(result["tasks"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    axes = axes[0]
    for ax, task_name in zip(axes, tasks):
        info = result["tasks"][task_name]
        methods = {}
        for r in info["rows"]:
            if r["value"] == "operating point":
                continue
            c, a = methods.setdefault(r["method"], ([], []))
            c.append(mean_of(r["flops"]))
            a.append(mean_of(r["accuracy"]))
        curve = info["curves"].get(info["best"]) or next(iter(info["curves"].values()))
        plot_against_reference(methods, (curve["truncated_flops"], curve["truncated"]), ax=ax,
                               reference_label=f"static, truncated ({info['best']} model)")
        ax.set_title(task_name)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table_rows(result: dict) -> list[dict]:
    """Rows of :data:`tinydyn.bench.rows.ROW_KEYS`: per task the full model (baseline) and each
    method at its operating point."""
    from tinydyn.bench.early_exit import METHODS

    out = []
    for task_name, info in result["tasks"].items():
        ops = _ops(result, task_name)
        n = len(result["seeds"])
        best = next(r for r in ops if r["method"] == info["best"])
        batched = info["timing"]["batched"]
        largest = max(batched, key=int) if batched else None
        bt = batched.get(largest)
        _, _, static_b1 = _batch1(result, task_name, info["best"])
        out.append(make_row(
            family="early_exit", task=task_name,
            method=f"full model ({int(mean_of(best['depth']))} layers)",
            accuracy=mean_of(best["full_accuracy"]),
            accuracy_std=best["full_accuracy"]["std"] if n > 1 else None, n_seeds=n,
            flops=mean_of(best["full_flops"]), params=int(mean_of(best["params"])),
            t_batch1_s=static_b1, t_batched_s=bt["static"] if bt else None,
            batch_size=int(largest) if bt else None, baseline=True))
        for r in ops:
            t1, s1, _ = _batch1(result, task_name, r["method"])
            flop_sp = mean_of(r["full_flops"]) / mean_of(r["flops"])
            tb = sb = None
            if r["method"] == info["best"] and bt:
                engine = min(("compaction", "refill"), key=lambda e: bt[e])
                tb, sb = bt[engine], bt["static"] / bt[engine]
            out.append(make_row(
                family="early_exit", method=r["method"], task=task_name,
                knob=f"{METHODS[r['method']][2]} = {mean_of(r['knob_value']):.3g}",
                accuracy=mean_of(r["accuracy"]),
                accuracy_std=r["accuracy"]["std"] if n > 1 else None, n_seeds=n,
                flops=mean_of(r["flops"]), params=int(mean_of(r["params"])), t_batch1_s=t1,
                t_batched_s=tb, batch_size=int(largest) if tb else None, speedup_batch1=s1,
                speedup_batched=sb, flop_speedup=flop_sp,
                realisation=realisation(s1, timed_flop_speedup(r)),
                baseline=False))
    return out
