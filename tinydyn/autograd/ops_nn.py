"""Neural-network ops: softmax, log_softmax, layer_norm, dropout."""

from __future__ import annotations
__all__ = []
