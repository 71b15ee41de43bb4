"""asv benchmarks of reading ratings: a file with ``read_ratings``, a DataFrame with
``Ratings.from_dataframe``.

Two layouts of the same 1M generated ratings: a MovieLens 20M-style CSV with a header,
and MovieLens 1M / 10M's ``user::item::rating::timestamp``. pandas' fast parser takes
one-character separators only, so the second is split at ':' (8× faster than pandas'
Python parser, which the reader used before). The files are written once per machine
to the temporary directory.
"""

import os
import tempfile

import numpy as np

from sparseals import Ratings
from sparseals.datasets import read_ratings

ROWS = 1_000_000
LAYOUTS = {
    "csv": (",", "userId,movieId,rating,timestamp\n", dict()),
    "double_colon": ("::", "", dict(user=0, item=1, rating=2)),
}


def _pairs():
    """ROWS distinct (user, item) pairs of 1-based MovieLens-like ids, shuffled."""
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 70_000 * 10_000, int(ROWS * 1.01)))[:ROWS]
    keys = keys[rng.permutation(len(keys))]
    return rng, keys // 10_000 + 1, keys % 10_000 + 1


def _write(path, sep, header):
    rng, users, items = _pairs()
    ratings = rng.integers(1, 11, len(users)) / 2
    stamps = rng.integers(900_000_000, 1_500_000_000, len(users))
    temporary = path + ".part"
    with open(temporary, "w") as f:
        f.write(header)
        f.writelines(f"{u}{sep}{i}{sep}{r}{sep}{t}\n"
                     for u, i, r, t in zip(users, items, ratings, stamps))
    os.replace(temporary, path)


class ReadRatings:
    params = list(LAYOUTS)
    param_names = ["layout"]
    timeout = 300

    def setup(self, layout):
        sep, header, self.columns = LAYOUTS[layout]
        self.path = os.path.join(tempfile.gettempdir(), f"sparseals_asv_{layout}_{ROWS}.txt")
        if not os.path.exists(self.path):
            _write(self.path, sep, header)

    def time_read(self, layout):
        read_ratings(self.path, **self.columns)

    def peakmem_read(self, layout):
        read_ratings(self.path, **self.columns)


class FromDataFrame:
    """Integer ids (coded through a table) and the same ids as text (``pd.factorize``)."""
    params = ["integer", "text"]
    param_names = ["ids"]

    def setup(self, ids):
        import pandas as pd

        rng, users, items = _pairs()
        if ids == "text":
            users = np.char.add("u", users.astype(str)).astype(object)
        self.frame = pd.DataFrame({"userId": users, "movieId": items,
                                   "rating": rng.integers(1, 11, len(items)) / 2})

    def time_from_dataframe(self, ids):
        Ratings.from_dataframe(self.frame)
