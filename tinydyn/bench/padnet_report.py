"""The report of `tinydyn bench padnet`: verdicts, the Markdown table, the plots, the shared rows.

Works on the dict that :func:`tinydyn.bench.padnet.run_padnet` writes to ``padnet.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydyn.bench.rows import make_row, realisation
from tinydyn.bench.seeds import format_spread, mean_of

__all__ = ["format_markdown", "plots", "table_rows", "verdicts"]

def _rows(result, task):
    return [r for r in result["rows"] if r["task"] == task]


def _row(result, task, method, value=0.0):
    return next((r for r in _rows(result, task) if r["method"] == method
                 and r["value"] == value), None)


def _std(entry):
    return entry["std"] if isinstance(entry, dict) else 0.0


def _time(result, task, method, value, batch="batch1", which="served"):
    """Seconds per input of a row's served / masked model, or of the fully dynamic network
    timed beside it ("full"); None if not timed."""
    entry = result["timing"].get(task, {}).get(f"{method}|{value}", {})
    return entry.get(batch, {}).get(which)


def verdicts(result) -> list:
    """(target, measured, met?) for each target of the issue and each task, in words."""
    out = []
    for task, recipe in result["recipes"].items():
        if _rows(result, task):
            out += _task_verdicts(result, task, recipe)
    return out


def _task_verdicts(result, task, recipe) -> list:
    out, targets = [], result["targets"]
    full = _row(result, task, recipe["full"])
    acc_full, std_full = mean_of(full["accuracy"]), _std(full["accuracy"])
    params_full = mean_of(full["params"])
    for kappa in targets["match_kappas"]:
        pad = _row(result, task, "PAD IMP", kappa)
        if pad is None:
            continue
        gap = mean_of(pad["accuracy"]) - acc_full
        share = mean_of(pad["params"]) / params_full
        out.append({"target": f"{task}: PAD IMP kappa = {kappa} accuracy >= fully dynamic - "
                              f"its std ({100 * std_full:.1f} points)",
                    "measured": f"{100 * gap:+.1f} points, {100 * share:.0f}% of its stored "
                                "parameters", "met": gap >= -std_full})
    for kappa in (targets["small_kappa"], 0.3):
        pad, rnd = _row(result, task, "PAD IMP", kappa), _row(result, task, "PAD random", kappa)
        if pad is None or rnd is None:
            continue
        margin = mean_of(pad["accuracy"]) - mean_of(rnd["accuracy"])
        spread = max(_std(pad["accuracy"]), _std(rnd["accuracy"]))
        out.append({"target": f"{task}: IMP beats a random partition at kappa = {kappa}",
                    "measured": f"{100 * margin:+.1f} points (larger seed std "
                                f"{100 * spread:.1f})", "met": margin > 0})
    pads = [r for r in _rows(result, task) if r["method"].startswith("PAD")]
    worst = max(r["max_output_diff"]["max"] for r in pads)
    same = min(r["same_predictions"]["min"] for r in pads)
    out.append({"target": f"{task}: post-processed outputs = masked outputs (max |diff| / max "
                          f"|logit| <= {targets['output_rtol']:g}, every PAD model and seed)",
                "measured": f"{worst:.1e}; same predicted class on {100 * same:.1f}% of the "
                            "test inputs", "met": worst <= targets["output_rtol"]})
    ratios = []
    for r in pads:
        for batch in ("batch1", "batched"):
            small = _time(result, task, r["method"], r["value"], batch)
            masked = _time(result, task, r["method"], r["value"], batch, "masked")
            if small and masked:
                ratios.append(small / masked)
    if ratios:
        out.append({"target": f"{task}: post-processed model at least as fast as the masked "
                              "one (median time ratio over the PAD models and both batch "
                              "sizes <= 1; the range is shown)",
                    "measured": f"{min(ratios):.2f}x - {max(ratios):.2f}x (median "
                                f"{float(np.median(ratios)):.2f}x)",
                    "met": float(np.median(ratios)) <= targets["speed_ratio"]})
    return out


def _kernel_share(row, k) -> float | None:
    """PAD kernel storage / fully dynamic kernel storage, from the per-layer ratios (D.8)."""
    ratios = row.get("layer_ratios_per_seed") or [row.get("layer_ratios")]
    sizes = row.get("layer_sizes_per_seed") or [row.get("layer_sizes")]
    if not ratios or ratios[0] is None:
        return None
    r, n = np.asarray(ratios[0]), np.asarray(sizes[0])
    return float(((1 - r) * n + k * r * n).sum() / (k * n.sum()))


def _recipe_line(task, rec, quick) -> str:
    steps = rec["quick_steps" if quick else "steps"]
    model = (f"2 conv layers of width {rec['width']}, K = {rec['num_kernels']}"
             if rec["family"] == "dyconv" else
             f"FFN of two MoE linears, {rec['num_kernels']} experts, noisy top-2")
    mode = "train" if rec["score_train_mode"] else "eval"
    return (f"{model}; {steps} Adam steps of {rec['batch']}, lr {rec['lr']}; IMP: "
            f"{rec['iterations']} rounds, {rec['score_batches']} scoring batches of "
            f"{rec['score_batch']}, {mode} mode, global threshold.")


def _task_table(result, task, rec) -> list:
    lines = [f"## {task}", "", _recipe_line(task, rec, result["quick"]), "",
             "| method | kappa | test accuracy % | range | stored params | kernel storage vs "
             "fully dynamic | FLOPs / input | lambda_d (end) | dynamic ratio per layer "
             f"(first seed) | ms / input, batch 1 | ms / input, batch {rec['timed_batch']} |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in _rows(result, task):
        pad = r["method"].startswith("PAD")
        share = (_kernel_share(r, rec["num_kernels"]) if pad
                 else (1.0 if r["method"] == rec["full"] else None))
        ratios = (r.get("layer_ratios_per_seed") or [None])[0] if pad else None
        t1, tb = (_time(result, task, r["method"], r["value"], b)
                  for b in ("batch1", "batched"))
        lam = f"{mean_of(r['lambda_d']):.3f}" if pad else "-"
        lines.append(
            f"| {r['method']} | {r['value'] if pad else '-'} | "
            f"{format_spread(r['accuracy'], 100)} | "
            f"{format_spread(r['accuracy'], 100, style='range').split(' ', 1)[-1]} | "
            f"{mean_of(r['params']):.0f} | {'-' if share is None else f'{100 * share:.1f}%'} | "
            f"{mean_of(r['flops']):,.0f} | {lam} | "
            f"{', '.join(f'{v:.2f}' for v in ratios) if ratios else '-'} | "
            f"{'-' if t1 is None else f'{1e3 * t1:.3f}'} | "
            f"{'-' if tb is None else f'{1e3 * tb:.4f}'} |")
    return lines + [""]


def format_markdown(result) -> str:
    lines = [f"# tinydyn bench padnet{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}", "",
             f"Seeds {result['seeds']}. Accuracy on the test split, mean ± std over seeds "
             "(min–max). PAD rows: the post-processed model. Kernel storage: the PAD layers' "
             "kernel values against the fully dynamic layers' (spec D.8).", ""]
    for task, rec in result["recipes"].items():
        if _rows(result, task):
            lines += _task_table(result, task, rec)
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'met' if v['met'] else 'MISSED'} |")
    lines += ["", "Stored parameters of a PAD row are those of the post-processed model (the "
              "kernel values left, the routing/attention, BatchNorm, embedding and head; the "
              "index of the dynamic positions is stored apart, as integers). FLOPs: 2 per "
              "multiply-add, counted by tinydyn.measure.FlopCounter in eval mode; a "
              "post-processed PAD MoE still runs each expert's matmul on its dense weight "
              "(zeros at static positions) and adds the static path, one dense matmul per "
              "token and layer, so it costs more FLOPs than the fully dynamic MoE whatever "
              "kappa. Times: the "
              "first seed's models, forward only, medians of alternating warm blocks, on a "
              "machine shared with other jobs.", "",
              "![accuracy against stored parameters and FLOPs, lambda_d](padnet.png)"]
    return "\n".join(lines) + "\n"


def plots(result, out_dir) -> Path:
    """Per task: accuracy against stored parameters and against FLOPs; lambda_d in training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in result["recipes"] if _rows(result, t)]
    fig, grid = plt.subplots(len(tasks), 3, figsize=(15, 4.2 * len(tasks)), squeeze=False)
    styles = {"PAD IMP": "o-", "PAD IMP per layer": "d-.", "PAD random": "s--",
              "PAD magnitude": "^:"}
    for axes, task in zip(grid, tasks):
        rec = result["recipes"][task]
        for ax, key, label in ((axes[0], "params", "stored parameters"),
                               (axes[1], "flops", "FLOPs per input")):
            for method, style in styles.items():
                rows = [r for r in _rows(result, task) if r["method"] == method]
                if rows:
                    ax.errorbar([mean_of(r[key]) for r in rows],
                                [100 * mean_of(r["accuracy"]) for r in rows],
                                yerr=[100 * _std(r["accuracy"]) for r in rows], fmt=style,
                                capsize=3, label=method)
            for method, marker in ((rec["full"], "*"), (rec["static"], "X")):
                r = _row(result, task, method)
                ax.errorbar([mean_of(r[key])], [100 * mean_of(r["accuracy"])],
                            yerr=[100 * _std(r["accuracy"])], fmt=marker, markersize=12,
                            capsize=3, label=method)
            ax.set_xlabel(label)
            ax.set_ylabel(f"{task}: test accuracy %")
            ax.legend(fontsize=7)
        ax = axes[2]
        for r in _rows(result, task):
            if r["method"] == "PAD IMP":
                history = r["lambda_history_per_seed"][0]
                ax.plot(np.arange(len(history)) * 10, history, label=f"kappa = {r['value']}")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{task}: lambda_d (mean over layers)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(out_dir) / "padnet.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def table_rows(result: dict) -> list[dict]:
    """Rows of :mod:`tinydyn.bench.rows`; per task, the fully dynamic network is the baseline."""
    n = len(result["seeds"])
    rows = []
    for task, rec in result["recipes"].items():
        if not _rows(result, task):
            continue
        base_flops = mean_of(_row(result, task, rec["full"])["flops"])
        for r in _rows(result, task):
            pad = r["method"].startswith("PAD")
            t1 = _time(result, task, r["method"], r["value"], "batch1")
            tb = _time(result, task, r["method"], r["value"], "batched")
            # speed-ups against the fully dynamic network timed beside this row
            base_t1 = _time(result, task, r["method"], r["value"], "batch1", "full")
            base_tb = _time(result, task, r["method"], r["value"], "batched", "full")
            s1 = base_t1 / t1 if base_t1 and t1 else None
            flop_speedup = base_flops / mean_of(r["flops"])
            rows.append(make_row(
                family="padnet", method=r["method"], task=task,
                knob=f"kappa = {r['value']:g}" if pad else None,
                accuracy=mean_of(r["accuracy"]),
                accuracy_std=_std(r["accuracy"]) if n > 1 else None, n_seeds=n,
                flops=mean_of(r["flops"]), params=int(round(mean_of(r["params"]))),
                t_batch1_s=t1, t_batched_s=tb, batch_size=rec["timed_batch"],
                speedup_batch1=s1, speedup_batched=base_tb / tb if base_tb and tb else None,
                flop_speedup=flop_speedup, realisation=realisation(s1, flop_speedup),
                baseline=r["method"] == rec["full"]))
    return rows
