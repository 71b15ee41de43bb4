"""Data sets: the textbook seed example, a generator of MovieLens-shaped ratings, file readers."""

from .download import fetch_movielens
from .readers import load_movielens, load_movielens_titles, read_ratings
from .synthetic import PRESETS, preset, seed_example, synthetic

__all__ = ["seed_example", "synthetic", "preset", "PRESETS", "read_ratings", "load_movielens",
           "load_movielens_titles", "fetch_movielens"]
