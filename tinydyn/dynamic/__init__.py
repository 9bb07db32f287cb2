"""Dynamic neural networks, one folder per family (see docs/design.md)."""
