"""Measuring dynamic networks: FLOPs, wall-clock time, and speed/accuracy trade-offs."""

from tinydyn.measure.timing import Timing, format_seconds, time_fn

__all__ = ["Timing", "format_seconds", "time_fn"]
