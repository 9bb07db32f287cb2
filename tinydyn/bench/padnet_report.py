"""The report of `tinydyn bench padnet`: verdicts, the Markdown table, the plots, the shared rows.

Works on the dict that :func:`tinydyn.bench.padnet.run_padnet` writes to ``padnet.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydyn.bench.rows import make_row, realisation
from tinydyn.bench.seeds import format_spread, mean_of

__all__ = ["format_markdown", "plots", "table_rows", "verdicts"]

FULL, STATIC = "fully dynamic DY-Conv", "static CNN"


def _row(result, method, value=0.0):
    return next((r for r in result["rows"] if r["method"] == method and r["value"] == value),
                None)


def _std(entry):
    return entry["std"] if isinstance(entry, dict) else 0.0


def _time(result, method, value, batch="batch1", masked=False):
    name = f"{method}|{value}" + ("|masked" if masked else "")
    return result["timing"][batch].get(name)


def verdicts(result) -> list:
    """(target, measured, met?) for each target of the issue, in words."""
    out, targets = [], result["targets"]
    full = _row(result, FULL)
    acc_full, std_full = mean_of(full["accuracy"]), _std(full["accuracy"])
    params_full = mean_of(full["params"])
    for kappa in targets["match_kappas"]:
        pad = _row(result, "PAD IMP", kappa)
        if pad is None:
            continue
        gap = mean_of(pad["accuracy"]) - acc_full
        share = mean_of(pad["params"]) / params_full
        out.append({"target": f"PAD IMP kappa = {kappa}: accuracy >= fully dynamic - its std "
                              f"({100 * std_full:.1f} points)",
                    "measured": f"{100 * gap:+.1f} points, {100 * share:.0f}% of its stored "
                                "parameters", "met": gap >= -std_full})
    for kappa in (targets["small_kappa"], 0.3):
        pad, rnd = _row(result, "PAD IMP", kappa), _row(result, "PAD random", kappa)
        if pad is None or rnd is None:
            continue
        margin = mean_of(pad["accuracy"]) - mean_of(rnd["accuracy"])
        spread = max(_std(pad["accuracy"]), _std(rnd["accuracy"]))
        out.append({"target": f"IMP beats a random partition at kappa = {kappa}",
                    "measured": f"{100 * margin:+.1f} points (larger seed std "
                                f"{100 * spread:.1f})", "met": margin > 0})
    pads = [r for r in result["rows"] if r["method"].startswith("PAD")]
    worst = max(mean_of(r["max_output_diff"]) if not isinstance(r["max_output_diff"], dict)
                else r["max_output_diff"]["max"] for r in pads)
    out.append({"target": f"post-processed outputs = masked outputs (|diff| <= "
                          f"{targets['output_atol']:g})", "measured": f"max |diff| {worst:.1e}",
                "met": worst <= targets["output_atol"]})
    ratios = []
    for r in pads:
        for batch in ("batch1", "batched"):
            small = _time(result, r["method"], r["value"], batch)
            masked = _time(result, r["method"], r["value"], batch, masked=True)
            if small and masked:
                ratios.append(small / masked)
    if ratios:
        out.append({"target": "post-processed model at least as fast as the masked one "
                              "(median over the PAD models and both batch sizes of the time "
                              "ratio <= 1; the range is shown)",
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


def format_markdown(result) -> str:
    rec = result["recipe"]
    steps = rec["quick_steps" if result["quick"] else "steps"]
    lines = [f"# tinydyn bench padnet{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}", "",
             f"Seeds {result['seeds']}; {rec['task']}, width {rec['width']}, 2 conv layers, "
             f"K = 4, {steps} Adam steps of {rec['batch']}, lr {rec['lr']}; IMP: "
             f"{rec['iterations']} rounds, {rec['score_batches']} scoring batches of "
             f"{rec['score_batch']}, eval mode, global threshold. Accuracy on the test split, "
             "mean ± std over seeds (min–max). PAD rows: the post-processed model.", "",
             "| method | kappa | test accuracy % | range | stored params | kernel storage vs "
             "fully dynamic | FLOPs / input | lambda_d (end) | per-layer dynamic ratio "
             "(seed 0) | ms / input, batch 1 | ms / input, batch "
             f"{rec['timed_batch']} |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        pad = r["method"].startswith("PAD")
        share = (_kernel_share(r, rec.get("num_kernels", 4)) if pad
                 else (1.0 if r["method"] == FULL else None))
        ratios = (r.get("layer_ratios_per_seed") or [None])[0] if pad else None
        t1, tb = (_time(result, r["method"], r["value"], b) for b in ("batch1", "batched"))
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
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'met' if v['met'] else 'MISSED'} |")
    lines += ["", "Stored parameters of a PAD row are those of the post-processed model (the "
              "kernel values left, the attention, BatchNorm and the head; the index of the "
              "dynamic positions is stored apart, as integers). FLOPs: 2 per multiply-add, "
              "counted by tinydyn.measure.FlopCounter in eval mode. Times: the first seed's "
              "models, forward only, medians of alternating warm blocks, on a machine shared "
              "with other jobs.", "", "![accuracy against stored parameters](padnet.png)"]
    return "\n".join(lines) + "\n"


def plots(result, out_dir) -> Path:
    """Accuracy against stored parameters and against FLOPs; lambda_d over training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    styles = {"PAD IMP": "o-", "PAD random": "s--", "PAD magnitude": "^:"}
    for ax, key, label in ((axes[0], "params", "stored parameters"),
                           (axes[1], "flops", "FLOPs per input")):
        for method, style in styles.items():
            rows = [r for r in result["rows"] if r["method"] == method]
            if rows:
                ax.errorbar([mean_of(r[key]) for r in rows],
                            [100 * mean_of(r["accuracy"]) for r in rows],
                            yerr=[100 * _std(r["accuracy"]) for r in rows], fmt=style,
                            capsize=3, label=method)
                for r in rows:
                    ax.annotate(f"{r['value']}", (mean_of(r[key]), 100 * mean_of(r["accuracy"])),
                                fontsize=7, xytext=(3, 3), textcoords="offset points")
        for method, marker in ((FULL, "*"), (STATIC, "X")):
            r = _row(result, method)
            ax.errorbar([mean_of(r[key])], [100 * mean_of(r["accuracy"])],
                        yerr=[100 * _std(r["accuracy"])], fmt=marker, markersize=12,
                        capsize=3, label=method)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy %")
        ax.legend(fontsize=7)
    ax = axes[2]
    for r in result["rows"]:
        if r["method"] == "PAD IMP":
            history = r["lambda_history_per_seed"][0]
            ax.plot(np.arange(len(history)) * 10, history, label=f"kappa = {r['value']}")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("lambda_d (mean over layers, seed 0)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(out_dir) / "padnet.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table_rows(result: dict) -> list[dict]:
    """Rows of :mod:`tinydyn.bench.rows`; the fully dynamic network is the baseline."""
    n = len(result["seeds"])
    task = result["recipe"]["task"]
    full = _row(result, FULL)
    base_flops = mean_of(full["flops"])
    base_t1 = _time(result, FULL, 0.0, "batch1")
    base_tb = _time(result, FULL, 0.0, "batched")
    rows = []
    for r in result["rows"]:
        pad = r["method"].startswith("PAD")
        t1, tb = _time(result, r["method"], r["value"], "batch1"), _time(
            result, r["method"], r["value"], "batched")
        s1 = base_t1 / t1 if base_t1 and t1 else None
        flop_speedup = base_flops / mean_of(r["flops"])
        rows.append(make_row(
            family="padnet", method=r["method"], task=task,
            knob=f"kappa = {r['value']:g}" if pad else None,
            accuracy=mean_of(r["accuracy"]), accuracy_std=_std(r["accuracy"]) if n > 1 else None,
            n_seeds=n, flops=mean_of(r["flops"]), params=int(round(mean_of(r["params"]))),
            t_batch1_s=t1, t_batched_s=tb, batch_size=result["recipe"]["timed_batch"],
            speedup_batch1=s1, speedup_batched=base_tb / tb if base_tb and tb else None,
            flop_speedup=flop_speedup, realisation=realisation(s1, flop_speedup),
            baseline=r["method"] == FULL))
    return rows
