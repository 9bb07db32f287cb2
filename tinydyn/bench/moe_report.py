"""The report of `tinydyn bench moe`: verdicts, the Markdown tables, the figure, and the rows of
the cross-method table (:mod:`tinydyn.bench.rows`)."""

from __future__ import annotations

from tinydyn.bench.rows import make_row, ratio, realisation
from tinydyn.bench.seeds import format_spread, is_spread, mean_of

__all__ = ["format_markdown", "plot", "table_rows", "verdicts"]

BASELINE = "dense, d_ff hidden"
CF_METHODS = (("Switch top-1, CF 0.5", 0.5), ("Switch top-1, CF 1.0", 1.0),
              ("Switch top-1, CF 1.25", 1.25), ("Switch top-1, CF 2.0", 2.0),
              ("Switch top-1", None))


def _row(result, method):
    return next((r for r in result["methods"] if r["method"] == method), None)


def _timing(result, baseline_prefix):
    return next((t for t in result["timing"] if t["baseline"].startswith(baseline_prefix)), None)


def _margin(result, moe, dense):
    a, b = _row(result, moe), _row(result, dense)
    if a is None or b is None:
        return None, None
    diffs = [x - y for x, y in zip(a["accuracy"]["values"], b["accuracy"]["values"])]
    return sum(diffs) / len(diffs), (min(diffs), max(diffs))


def verdicts(result) -> list:
    """(target, measured, met?) for each target of the issue, in words."""
    t = result["targets"]
    out = []
    inside = result.get("overhead_in_calls")
    if inside:
        limit = 100 * t["overhead_share"]
        for part, words in (("ffn", "the experts' FFN (products, biases, activation)"),
                            ("products", "the experts' matrix products")):
            r = inside[part]
            out.append({"target": f"time outside {words} <= {limit:.0f}% of the layer",
                        "measured": f"{100 * r['from_minima']:.0f}% from each part's fastest "
                                    f"of {inside['calls']} calls ({1e3 * r['outside_min_s']:.1f}"
                                    f" ms outside, {1e3 * r['inner_min_s']:.1f} ms inside; "
                                    f"per-call median {100 * r['median']:.0f}%, quartiles "
                                    f"{100 * r['q1']:.0f}-{100 * r['q3']:.0f}%)",
                        "met": r["from_minima"] <= t["overhead_share"]})
        mm = _timing(result, "the experts' matrix products")
        if mm and mm["tinydyn_s"] and mm["baseline_s"]:
            share = 1 - mm["baseline_s"] / mm["tinydyn_s"]
            out.append({"target": f"the same, from the separate run of the products alone "
                                  f"<= {limit:.0f}%", "measured": f"{100 * share:.0f}%",
                        "met": share <= t["overhead_share"]})
    for prefix, key in (("dense FFN", "layer_vs_dense"), ("PyTorch", "layer_vs_torch")):
        r = _timing(result, prefix)
        if r is None:
            continue
        measured = f"{r['ratio']:.2f}x" if r["ratio"] is not None else f"skipped: {r['skipped']}"
        out.append({"target": f"layer vs {r['baseline']} <= {t[key]:g}x", "measured": measured,
                    "met": r["ratio"] is not None and r["ratio"] <= t[key]})
    for moe, dense in (("Switch top-1", "dense, d_ff hidden"),
                       ("top-2 (Switch-style)", "dense, 2 d_ff hidden"),
                       ("GShard top-2", "dense, 2 d_ff hidden")):
        mean, (low, high) = _margin(result, moe, dense) if _row(result, moe) else (None, (0, 0))
        if mean is None:
            continue
        out.append({"target": f"{moe} beats {dense} (same active FLOPs) by >= "
                              f"{100 * t['margin']:.0f} points",
                    "measured": f"{100 * mean:+.1f} points (seeds {100 * low:+.1f} to "
                                f"{100 * high:+.1f})", "met": low >= t["margin"]})
    off, on = _row(result, "Switch top-1, no balancing loss"), _row(result, "Switch top-1")
    if off is not None:
        used = mean_of(off["experts_used"])
        out.append({"target": "without the balancing loss, routing collapses onto 1-2 experts",
                    "measured": f"{used:.1f} of {result['model']['experts']} experts take "
                                f"> 2% of test tokens; load CV {mean_of(off['train_load_cv']):.2f}"
                                f" (with alpha = 0.01: {mean_of(on['train_load_cv']):.2f})",
                    "met": used <= 2})
    for name in ("Switch top-1", "Switch top-1, alpha = 0.1", "Switch top-1, alpha = 0.3"):
        r = _row(result, name)
        if r is None:
            continue
        alpha = name.split("= ")[-1] if "alpha" in name else "0.01"
        out.append({"target": f"with the balancing loss (alpha = {alpha}), load CV over the "
                              f"last 10% of training <= {t['load_cv']:g} on every seed",
                    "measured": f"{format_spread(r['train_load_cv'], 1, 3)} (max "
                                f"{r['train_load_cv']['max']:.3f})",
                    "met": r["train_load_cv"]["max"] <= t["load_cv"]})
    return out


def format_markdown(result) -> str:
    seeds, m = result["seeds"], result["model"]
    steps = m["quick_steps" if result["quick"] else "steps"]
    lines = [f"# tinydyn bench moe{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}", "",
             f"## Quality on `regions` (8 Gaussian clusters, a linear rule each; seeds {seeds})",
             "", f"Residual MLP, d_model {m['d_model']}, expert width d_ff {m['d_ff']}, "
                 f"{m['experts']} experts; {steps} Adam steps of {m['batch']}, lr {m['lr']}. "
                 "Test accuracy mean ± std over seeds; dropped: share of the assignments the "
                 "capacity removed in training (groups of one batch).", "",
             "| method | test accuracy % | params | FLOPs / input | load CV (train) | "
             "load CV (test) | experts used | dropped (train) | µs / input, batch 1 (fastest) | "
             f"µs / input, batch {result.get('timing_batch')} (fastest) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["methods"]:
        cv = format_spread(r["load_cv"], 1, 3) if r.get("load_cv") is not None else "-"
        train_cv = (format_spread(r["train_load_cv"], 1, 3)
                    if r.get("train_load_cv") is not None else "-")
        used = f"{mean_of(r['experts_used']):.1f}" if r.get("experts_used") else "-"
        drop = f"{100 * mean_of(r['train_dropped']):.1f}%" if r.get("train_dropped") else "-"
        lines.append(f"| {r['method']} | {format_spread(r['accuracy'], 100)} | "
                     f"{int(mean_of(r['params']))} | {mean_of(r['flops']):,.0f} | {train_cv} | "
                     f"{cv} | "
                     f"{used} | {drop} | {_us(result, r['method'], 't_batch1_s')} | "
                     f"{_us(result, r['method'], 't_batched_s')} |")
    c = result["layer"]["cost"]
    lines += ["", f"## The timed layer ({result['layer']['tokens']} tokens): cost (FLOPs)", "",
              "| router | experts | combine | MoE total | dense FFN (k·d_ff) |",
              "|---|---|---|---|---|",
              f"| {c['router']:,} | {c['experts']:,} | {c['combine']:,} | {c['total']:,} | "
              f"{result['layer']['dense_cost']:,} |", "",
              "## Layer timing (forward + backward)", "",
              "| candidate | time | MoE layer / candidate | target | |", "|---|---|---|---|---|"]
    for t in result["timing"]:
        time_s = f"{1e3 * t['baseline_s']:.2f} ms" if t["baseline_s"] else t["skipped"]
        ratio = f"{t['ratio']:.2f}x" if t["ratio"] is not None else "-"
        target = f"≤ {t['target']:g}x" if t["target"] is not None else ""
        lines.append(f"| {t['baseline']} | {time_s} | {ratio} | {target} | {t['verdict']} |")
    if result["timing"] and result["timing"][0]["tinydyn_s"]:
        lines.append(f"| MoE layer (tinydyn, dropless) | "
                     f"{1e3 * result['timing'][0]['tinydyn_s']:.2f} ms | 1.00x | | |")
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'met' if v['met'] else 'MISSED'} |")
    lines += ["", "FLOPs: 2 per multiply-add, counted by tinydyn.measure.FlopCounter in eval mode "
              "(router, experts incl. empty slots of the slot form, combine, the rest of the "
              "network). 'experts used': experts with more than 2% of the test tokens. "
              "Load CV (train): "
              "of the mean load over the last 10% of the training steps; (test): of the load on "
              "the 1000 test points, which carries a sampling CV of about 0.08 even under "
              "perfect routing (8 equally likely regions)."]
    return "\n".join(lines) + "\n"


def _us(result, method, key):
    value = result.get("network_timing", {}).get(method, {}).get(key)
    return f"{1e6 * value:.1f}" if value else "-"


def plot(result, path) -> None:
    """moe.png: load over training with and without the balancing loss, the capacity sweep,
    accuracy per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [n for n in ("Switch top-1, no balancing loss", "Switch top-1",
                         "Switch top-1, alpha = 0.3") if _row(result, n) is not None]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(5 * len(names) + 6, 4))
    for ax, name in zip(axes, names):
        r = _row(result, name)
        curve = np.array(r["load_curve_per_seed"][0])
        steps = np.linspace(0, 1, len(curve))
        for e in range(curve.shape[1]):
            ax.plot(steps, curve[:, e], lw=1)
        ax.axhline(1 / curve.shape[1], color="k", ls="--", lw=0.8)
        label = name.replace("Switch top-1", "top-1") + ("" if "alpha" in name or "no" in name
                                                          else ", alpha = 0.01")
        ax.set(title=f"{label}: load per expert (seed {result['seeds'][0]})",
               xlabel="fraction of training", ylabel="share of tokens", ylim=(0, 1))
    ax = axes[-1]
    names = [r["method"] for r in result["methods"]]
    acc = [100 * mean_of(r["accuracy"]) for r in result["methods"]]
    err = [100 * r["accuracy"]["std"] if is_spread(r["accuracy"]) else 0
           for r in result["methods"]]
    ax.barh(range(len(names)), acc, xerr=err, color="tab:blue")
    for i, r in enumerate(result["methods"]):
        if r.get("train_dropped") and mean_of(r["train_dropped"]) > 0:
            ax.text(acc[i] + 1, i, f"{100 * mean_of(r['train_dropped']):.0f}% dropped",
                    va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="test accuracy (%)", title="regions task, mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table_rows(result: dict) -> list[dict]:
    """One row per trained method on ``regions``; the dense MLP with d_ff hidden units (the
    active FLOPs of top-1) is the baseline. Times are the trained networks' inference per
    input (first seed), at batch 1 and in batches of ``timing_batch``."""
    n = len(result["seeds"])
    base_flops = mean_of(_row(result, BASELINE)["flops"])
    times = result.get("network_timing", {})
    base_t = times.get(BASELINE, {})
    rows = []
    for r in result["methods"]:
        flops = mean_of(r["flops"])
        knob = None
        for name, cf in CF_METHODS:
            if r["method"].startswith(name) and cf is not None:
                knob = f"capacity_factor = {cf}"
        if "alpha = " in r["method"]:
            knob = f"aux_coef = {r['method'].split('= ')[-1]}"
        t = times.get(r["method"], {})
        speedup1 = ratio(base_t.get("t_batch1_s"), t.get("t_batch1_s"))
        flop_speedup = base_flops / flops
        rows.append(make_row(
            family="moe", method=r["method"], task="regions", knob=knob,
            accuracy=mean_of(r["accuracy"]),
            accuracy_std=r["accuracy"]["std"] if n > 1 and is_spread(r["accuracy"]) else None,
            n_seeds=n, flops=flops, params=int(mean_of(r["params"])),
            t_batch1_s=t.get("t_batch1_s"), t_batched_s=t.get("t_batched_s"),
            batch_size=result.get("timing_batch") if t.get("t_batched_s") else None,
            speedup_batch1=speedup1,
            speedup_batched=ratio(base_t.get("t_batched_s"), t.get("t_batched_s")),
            flop_speedup=flop_speedup, realisation=realisation(speedup1, flop_speedup),
            baseline=r["method"] == BASELINE))
    return rows

