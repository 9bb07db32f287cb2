"""Indexing ops: getitem, gather/take_along_dim, scatter_add/index_add, masked_fill, embedding."""

from __future__ import annotations
__all__ = []
