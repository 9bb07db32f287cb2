"""`tinydyn bench survival`: where each family's savings survive, and a latency model.

Each family module ``tinydyn.bench.survival.<family>`` has ``measure(quick, seed, log)``, which
returns *points*: one method against its family's static baseline, both timed in the same
alternating warm blocks, at one model size (``axis = "size"``, at batch 1 unless the family
says why not) or one batch size (``axis = "batch"``), with decisions pinned so that every
point does the same share of work.
A point holds ``family, method, axis, x_name, x, batch_size`` and, per input, the baseline's
and the method's ``steps`` (sequential steps: RNN steps, layers run), ``flops`` and
``seconds``.

Then, per family, the two-term latency model of :mod:`tinydyn.measure.latency` is fitted on the
**baseline's** measurements of the size sweep only and asked to predict the methods' speed-ups
there, which it never saw.

Writes ``survival.md``, ``survival.json`` and ``survival_<family>.png``.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import numpy as np

from tinydyn.bench.harness import json_default
from tinydyn.measure.latency import fit_latency

__all__ = ["FAMILIES", "TABLE", "add_ratios", "latency_check", "main", "run_survival"]

# family -> module with measure(quick, seed, log) -> list of points
FAMILIES = {
    "skimming": "tinydyn.bench.survival.skimming",
    "dyconv": "tinydyn.bench.survival.dyconv",
    "moe": "tinydyn.bench.survival.moe",
    "pruning": "tinydyn.bench.survival.pruning",
    "early_exit": "tinydyn.bench.survival.early_exit",
}
TABLE = False  # no accuracy rows for `bench all`'s table: this suite has its own page
PREDICTION_TARGET = 0.25  # the latency model's predicted speed-ups within 25% of the measured


def add_ratios(point: dict) -> dict:
    """The point with its measured speed-up, FLOP speed-up and realisation."""
    speedup = point["base_seconds"] / point["seconds"]
    flop_speedup = point["base_flops"] / point["flops"]
    return {**point, "speedup": speedup, "flop_speedup": flop_speedup,
            "realisation": speedup / flop_speedup}


def latency_check(points: list[dict]) -> dict:
    """Fit the latency model on the baseline's points of one family's size sweep (batch 1,
    except where a family says otherwise); predict the methods' speed-ups on that sweep.
    Returns the coefficients and one prediction per method point."""
    b1 = [p for p in points if p["axis"] == "size"]
    base = {(p["x_name"], p["x"]): p for p in b1}  # one baseline measurement per size
    fit_on = list(base.values())
    model = fit_latency([p["base_steps"] for p in fit_on], [p["base_flops"] for p in fit_on],
                        [p["base_seconds"] for p in fit_on])
    predictions = []
    for p in b1:
        predicted = float(model.speedup(p["base_steps"], p["base_flops"], p["steps"],
                                        p["flops"])[0])
        measured = p["base_seconds"] / p["seconds"]
        predictions.append({"method": p["method"], "x_name": p["x_name"], "x": p["x"],
                            "measured": measured, "predicted": predicted,
                            "flop_speedup": p["base_flops"] / p["flops"],
                            "error": predicted / measured - 1})
    return {"per_step_s": model.per_step_s, "per_flop_s": model.per_flop_s,
            "fitted_on": len(fit_on), "predictions": predictions}


def _figure(family: str, points: list[dict], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinydyn.course.figures.measuring import plot_survival

    axes = plot_survival(points)
    fig = axes[0].figure
    fig.suptitle(f"{family}: where the FLOP saving survives")
    path = out_dir / f"survival_{family}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def format_markdown(result: dict) -> str:
    lines = ["# tinydyn bench survival", "", result["machine"], "",
             "Realisation = measured speed-up / FLOP speed-up, against the family's static "
             "baseline timed in the same alternating warm blocks; decisions pinned (see each "
             "family's module). Times per input.", ""]
    for family, info in result["families"].items():
        lines += [f"## {family}", ""]
        if info["status"] != "ok":
            lines += [info["status"], ""]
            continue
        lines += ["| method | axis | value | batch | FLOP speed-up | speed-up | realisation |",
                  "|---|---|---|---|---|---|---|"]
        for p in info["points"]:
            lines.append(f"| {p['method']} | {p['x_name']} | {p['x']} | {p['batch_size']} | "
                         f"{p['flop_speedup']:.2f}x | {p['speedup']:.2f}x | "
                         f"{p['realisation']:.2f} |")
        lat = info["latency"]
        lines += ["", f"Latency model fitted on the baseline's {lat['fitted_on']} measurements "
                  f"of the size sweep: {1e6 * lat['per_step_s']:.3g} µs per step + "
                  f"{1e12 * lat['per_flop_s']:.3g} ps per FLOP. Predicted against measured "
                  "speed-ups of the methods on that sweep (never fitted on):", "",
                  "| method | value | FLOP speed-up | predicted | measured | error |",
                  "|---|---|---|---|---|---|"]
        for q in lat["predictions"]:
            lines.append(f"| {q['method']} | {q['x']} | {q['flop_speedup']:.2f}x | "
                         f"{q['predicted']:.2f}x | {q['measured']:.2f}x | "
                         f"{100 * q['error']:+.0f}% |")
        within = [abs(q["error"]) <= PREDICTION_TARGET for q in lat["predictions"]]
        lines += ["", f"Within {100 * PREDICTION_TARGET:.0f}%: {sum(within)} of {len(within)}.",
                  "", f"![{family}](survival_{family}.png)", ""]
    return "\n".join(lines) + "\n"


def run_survival(out_dir, *, quick: bool = False, seed: int = 0, families=None,
                 log=print) -> dict:
    """Measure every family (one failing family does not hide the others) and write pages."""
    from tinydyn.bench.harness import machine_line

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = {"machine": machine_line(), "quick": quick, "seed": seed, "families": {}}
    for family in FAMILIES if families is None else families:
        log(f"survival: {family} ...")
        try:
            module = importlib.import_module(FAMILIES[family])
            points = [add_ratios(p) for p in module.measure(quick=quick, seed=seed, log=log)]
            info = {"status": "ok", "points": points, "latency": latency_check(points)}
            info["figure"] = _figure(family, points, out_dir).name
        except Exception as error:  # noqa: BLE001 - reported in the page, not swallowed
            info = {"status": f"failed: {type(error).__name__}: {error}"}
            log(info["status"])
        result["families"][family] = info
    result["seconds"] = time.perf_counter() - start
    (out_dir / "survival.json").write_text(json.dumps(result, indent=1, default=json_default),
                                           encoding="utf-8")
    (out_dir / "survival.md").write_text(format_markdown(result), encoding="utf-8")
    return result



def main(args) -> int:
    """`tinydyn bench survival [--quick] [--seed S] [--out DIR]`."""
    result = run_survival(args.out, quick=args.quick, seed=args.seed,
                          log=(lambda *a: None) if args.quiet else print)
    print((Path(args.out) / "survival.md").read_text(encoding="utf-8"))
    print(f"wrote survival.md, survival.json and the figures in {args.out} "
          f"({result['seconds']:.0f} s)")
    return 0 if all(f["status"] == "ok" for f in result["families"].values()) else 1
