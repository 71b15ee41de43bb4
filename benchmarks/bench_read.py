"""asv benchmark of reading a ratings file with ``read_ratings``.

Two layouts of the same 1M generated ratings: a MovieLens 20M-style CSV with a header,
and MovieLens 1M / 10M's ``user::item::rating::timestamp``. pandas' fast parser takes
one-character separators only, so the second is split at ':' (8× faster than pandas'
Python parser, which the reader used before). The files are written once per machine
to the temporary directory.
"""

import os
import tempfile

import numpy as np

from sparseals.datasets import read_ratings

ROWS = 1_000_000
LAYOUTS = {
    "csv": (",", "userId,movieId,rating,timestamp\n", dict()),
    "double_colon": ("::", "", dict(user=0, item=1, rating=2)),
}


def _write(path, sep, header):
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 70_000 * 10_000, int(ROWS * 1.01)))[:ROWS]
    keys = keys[rng.permutation(len(keys))]
    users, items = keys // 10_000 + 1, keys % 10_000 + 1
    ratings = rng.integers(1, 11, len(keys)) / 2
    stamps = rng.integers(900_000_000, 1_500_000_000, len(keys))
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
