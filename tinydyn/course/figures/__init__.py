"""Method-specific lesson figures (one module per method), each called in one to three lines
from its lesson: what a dynamic model decided (tokens skimmed or read, jumps, update rates)."""
