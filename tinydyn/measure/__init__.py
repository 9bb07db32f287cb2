"""Measuring dynamic networks: FLOPs, wall-clock time, and speed/accuracy trade-offs."""

from tinydyn.measure.flops import (
    FlopCounter,
    add_flops,
    attention_flops,
    conv2d_flops,
    count_flops,
    format_flops,
    gru_cell_flops,
    layer_norm_flops,
    linear_flops,
    lstm_cell_flops,
    lstm_flops,
    transformer_layer_flops,
)
from tinydyn.measure.elue import elue_score, interpolate_reference
from tinydyn.measure.latency import LatencyModel, fit_latency, measured_speedups
from tinydyn.measure.pareto import area_under_front, pareto_front, plot_pareto
from tinydyn.measure.timing import Timing, format_seconds, time_fn, time_fns

__all__ = [
    "FlopCounter", "LatencyModel", "Timing", "add_flops", "area_under_front", "attention_flops",
    "conv2d_flops", "count_flops", "elue_score", "fit_latency", "format_flops",
    "format_seconds", "gru_cell_flops", "interpolate_reference", "layer_norm_flops",
    "linear_flops", "lstm_cell_flops", "lstm_flops", "measured_speedups", "pareto_front",
    "plot_pareto", "time_fn", "time_fns", "transformer_layer_flops",
]
