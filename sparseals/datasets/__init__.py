"""Data sets: the textbook seed example and a generator of MovieLens-shaped ratings."""

from .synthetic import PRESETS, preset, seed_example, synthetic

__all__ = ["seed_example", "synthetic", "preset", "PRESETS"]
