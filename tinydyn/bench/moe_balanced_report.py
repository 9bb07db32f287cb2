"""The report of `tinydyn bench moe_balanced`: verdicts, the Markdown table, the plot, the
shared rows. Works on the dict :func:`tinydyn.bench.moe_balanced.run_moe_balanced` writes to
``moe_balanced.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinydyn.bench.rows import make_row, realisation
from tinydyn.bench.seeds import format_spread, mean_of

__all__ = ["BASELINE", "format_markdown", "load_cv_curve", "plot", "table_rows", "verdicts"]

BASELINE = "dense FFN"


def _row(result, method):
    return next((r for r in result["rows"] if r["method"] == method), None)


def _std(entry):
    return entry["std"] if isinstance(entry, dict) else 0.0


def load_cv_curve(loads) -> np.ndarray:
    """Per training step, the coefficient of variation of the per-expert load (steps,)."""
    loads = np.asarray(loads, dtype=np.float64)
    return loads.std(axis=1) / loads.mean(axis=1)


def verdicts(result) -> list:
    """What the run shows, as (statement, measured, holds?) entries. The issue sets no number
    for this comparison ("Hash routing is shown against Switch, Expert Choice and THOR"), so
    these are the properties the routers promise, checked on the trained models."""
    out = []
    dense = mean_of(_row(result, BASELINE)["accuracy"])
    for method in ("Switch top-1", "Expert Choice c=1", "BASE", "Hash (random)",
                   "Hash (balanced)", "Hash (oracle groups)", "THOR"):
        r = _row(result, method)
        if r is None:
            continue
        margin = mean_of(r["accuracy"]) - dense
        out.append({"target": f"{method} vs dense FFN (same active FLOPs), test accuracy",
                    "measured": f"{100 * margin:+.1f} points (spread "
                                f"{100 * _std(r['accuracy']):.1f})",
                    "met": None})
    ec = _row(result, "Expert Choice c=1")
    if ec is not None:
        cv = mean_of(ec["load_cv"])
        out.append({"target": "Expert Choice: every expert exactly its capacity (load CV = 0)",
                    "measured": f"CV {cv:.3f}", "met": cv == 0.0})
    r = _row(result, "Hash (balanced)")
    if r is not None:
        cv = mean_of(r["load_cv"])
        random = _row(result, "Hash (random)")
        against = "" if random is None else f" (random hash: {mean_of(random['load_cv']):.3f})"
        out.append({"target": "Hash (balanced): test-split load CV <= 0.1",
                    "measured": f"CV {cv:.3f}{against}", "met": cv <= 0.1})
    loads = result.get("train_loads", {}).get("BASE")
    if loads is not None:
        spread = int(np.ptp(np.asarray(loads), axis=1).max())
        out.append({"target": "BASE: every training step gives each expert exactly S/E tokens",
                    "measured": f"largest max - min load over steps: {spread}",
                    "met": spread == 0})
    return out


def format_markdown(result) -> str:
    r = result["recipe"]
    steps = r["quick_steps" if result["quick"] else "steps"]
    lines = [f"# tinydyn bench moe_balanced{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}"
             + (f"; load average {result['load_average']:.1f} at the start"
                if result.get("load_average") is not None else ""), "",
             f"Task token_rules (64 token ids in 8 hidden groups, a table per group from the "
             f"previous token to one of 16 classes, Zipf token frequencies). Model: embeddings "
             f"d = {r['d_model']}, one pre-LayerNorm block, dense width {r['d_ff']} or "
             f"{r['n_experts']} experts of width {r['d_ff']} (the same active FLOPs per token). "
             f"{steps} Adam steps of {r['batch']} sequences x 16 tokens, lr {r['lr']}; THOR runs "
             f"each batch twice (consistency alpha {r['thor_alpha']}). Seeds "
             f"{result['seeds']}; test accuracy over all positions, mean ± std over seeds. "
             f"Load CV: std / mean of the per-expert load on the test split (routed "
             f"{r['eval_batch']} sequences at a time).", "",
             "| method | test accuracy % | range | load CV (test) | params | FLOPs / sequence "
             "| ms / sequence, batch 1 | ms / sequence, batch 64 | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        cv = "-" if row["load_cv"] is None else f"{mean_of(row['load_cv']):.3f}"
        lines.append(
            f"| {row['method']} | {format_spread(row['accuracy'], 100)} | "
            f"{format_spread(row['accuracy'], 100, style='range').split(' ', 1)[-1]} | {cv} | "
            f"{int(mean_of(row['params'])):,} | {mean_of(row['flops']):,.0f} | "
            f"{1e3 * mean_of(row['t_batch1_s']):.3f} | {1e3 * mean_of(row['t_batched_s']):.4f} "
            f"| {mean_of(row['train_s']):.1f} |")
    lines += ["", "## What the run shows", "", "| statement | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        mark = "" if v["met"] is None else ("holds" if v["met"] else "does NOT hold")
        lines.append(f"| {v['target']} | {v['measured']} | {mark} |")
    lines += ["", "FLOPs: 2 per multiply-add, per sequence of 16 tokens: each token's expert "
              "feed-forward products (one expert on average for every router here), the "
              "router (logits and softmax, 2dE + 5E, for Switch and Expert Choice; affinities "
              "and gate, 2dE + 2d + 1, for BASE; nothing for the hashes and THOR), the head; "
              "biases, activations, embeddings and LayerNorm are the same everywhere and left "
              "out. Times are medians of warm blocks alternating "
              "between the models, in one process, on a machine shared with other jobs.",
              "Expert Choice routes each group of 64 test sequences together (it looks at "
              "every token of the group, so it is not causal); the task labels every position "
              "with every token visible, which makes that fair here.", ""]
    return "\n".join(lines) + "\n"


def plot(result, path) -> Path:
    """Test accuracy per method (mean, min-max bars) and the load CV over training (seed 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.2))
    rows = result["rows"]
    names = [r["method"] for r in rows]
    means = np.array([100 * mean_of(r["accuracy"]) for r in rows])
    low = np.array([100 * (mean_of(r["accuracy"]) - r["accuracy"]["min"])
                    if isinstance(r["accuracy"], dict) else 0.0 for r in rows])
    high = np.array([100 * (r["accuracy"]["max"] - mean_of(r["accuracy"]))
                     if isinstance(r["accuracy"], dict) else 0.0 for r in rows])
    colors = ["0.5" if n == BASELINE else "C0" for n in names]
    ax.barh(names, means, xerr=np.vstack([low, high]), color=colors, capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy % (bars: min-max over seeds)")
    ax.set_xlim(max(0.0, means.min() - 15), 100)
    for method, loads in result.get("train_loads", {}).items():
        if method == "THOR":  # one expert per batch: CV sqrt(E - 1) at every step
            continue
        curve = load_cv_curve(loads)
        window = max(1, len(curve) // 50)
        smooth = np.convolve(curve, np.ones(window) / window, mode="valid")
        bx.plot(smooth, label=method)
    bx.set_xlabel("training step")
    bx.set_ylabel("load CV of the batch (std / mean)")
    bx.set_title("per-expert load during training (seed 0; THOR, one expert per batch, "
                 "is at sqrt(E - 1))", fontsize=9)
    bx.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table_rows(result: dict) -> list[dict]:
    """Rows of :mod:`tinydyn.bench.rows`; the dense model is the baseline. ``flops`` and the
    times are per sequence of 16 tokens."""
    n = len(result["seeds"])
    base = _row(result, BASELINE)
    base_flops, base_t1 = mean_of(base["flops"]), mean_of(base["t_batch1_s"])
    base_tb = mean_of(base["t_batched_s"])
    rows = []
    for r in result["rows"]:
        t1, tb = mean_of(r["t_batch1_s"]), mean_of(r["t_batched_s"])
        s1 = base_t1 / t1 if t1 else None
        flop_speedup = base_flops / mean_of(r["flops"])
        knob = "E = 8, k = 1" if r["method"] != BASELINE else None
        rows.append(make_row(
            family="moe", method=r["method"], task="token_rules", knob=knob,
            accuracy=mean_of(r["accuracy"]),
            accuracy_std=_std(r["accuracy"]) if n > 1 else None, n_seeds=n,
            flops=mean_of(r["flops"]), params=int(round(mean_of(r["params"]))),
            t_batch1_s=t1, t_batched_s=tb, batch_size=result["batch_size"],
            speedup_batch1=s1, speedup_batched=base_tb / tb if tb else None,
            flop_speedup=flop_speedup, realisation=realisation(s1, flop_speedup),
            baseline=r["method"] == BASELINE))
    return rows
