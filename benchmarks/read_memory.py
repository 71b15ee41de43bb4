"""Peak memory of reading a 20M-row ratings CSV with ``read_ratings``, against the result's size.

Usage::

    python benchmarks/read_memory.py [--csv /tmp/sparseals_ml20m.csv] [--chunksize N]

Writes the CSV first when it is missing: :func:`sparseals.datasets.preset` ``'ml20m'``
(138,493 users × 26,744 items, 20,000,263 ratings, seed 0) as ``userId,movieId,rating``
(about 300 MB; not part of the repository). Then reads it with
``read_ratings(path)`` in a fresh child process and reports

- the baseline resident set size after the imports (and a tiny warm-up read),
- the peak resident set size of the process (``VmHWM``: the kernel's high-water mark),
- the size of the final :class:`~sparseals.Ratings` (CSR + CSC arrays and the id maps),

and the ratio (peak − baseline) / size. Target (issue 4): under 2.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT_CSV = os.path.join(tempfile.gettempdir(), "sparseals_ml20m.csv")


def generate(path, seed=0):
    """Write the ml20m preset as a userId,movieId,rating CSV (1-based ids), in chunks."""
    import numpy as np
    import pandas as pd

    from sparseals.datasets import preset

    start = time.perf_counter()
    ratings = preset("ml20m", seed=seed)
    rows = ratings.by_user
    users = np.repeat(np.arange(ratings.shape[0], dtype=np.int32), np.diff(rows.indptr))
    temporary = path + ".part"
    with open(temporary, "w", newline="") as f:
        f.write("userId,movieId,rating\n")
        step = 2_000_000
        for lo in range(0, ratings.nnz, step):
            hi = min(lo + step, ratings.nnz)
            frame = pd.DataFrame({"userId": users[lo:hi] + 1, "movieId": rows.indices[lo:hi] + 1,
                                  "rating": rows.data[lo:hi].astype(np.int8)})
            frame.to_csv(f, header=False, index=False)
    os.replace(temporary, path)
    print(f"wrote {ratings.nnz:,} ratings to {path} ({os.path.getsize(path) / 1e6:.0f} MB) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(path, chunksize):
    """Read ``path`` and print the memory figures as JSON (runs in a fresh process)."""
    import numpy as np

    from sparseals.datasets import read_ratings

    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("userId,movieId,rating\n1,1,4\n2,1,3\n")
    read_ratings(f.name)  # warm-up: pandas' parser and every import are in the baseline
    os.unlink(f.name)
    baseline = _status("VmRSS")
    start = time.perf_counter()
    kwargs = {} if chunksize is None else {"chunksize": chunksize}
    ratings = read_ratings(path, **kwargs)
    seconds = time.perf_counter() - start
    peak = _status("VmHWM")
    arrays = list(ratings.by_user) + list(ratings.by_item) + [ratings.user_ids, ratings.item_ids]
    size = sum(np.asarray(a).nbytes for a in arrays)
    print(json.dumps({"nnz": ratings.nnz, "shape": ratings.shape, "seconds": round(seconds, 1),
                      "baseline_mb": baseline / 1e6, "peak_mb": peak / 1e6,
                      "ratings_mb": size / 1e6, "ratio": (peak - baseline) / size}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", default=DEFAULT_CSV, help=f"the CSV (default {DEFAULT_CSV})")
    parser.add_argument("--chunksize", type=int, default=None, help="read_ratings' chunksize")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.csv, args.chunksize)
        return 0
    if not os.path.isfile(args.csv):
        generate(args.csv)
    command = [sys.executable, os.path.abspath(__file__), "--child", "--csv", args.csv]
    if args.chunksize is not None:
        command += ["--chunksize", str(args.chunksize)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"read_ratings({args.csv!r}): {result['nnz']:,} ratings, shape {tuple(result['shape'])}, "
          f"{result['seconds']} s")
    print(f"baseline RSS {result['baseline_mb']:.0f} MB, peak RSS {result['peak_mb']:.0f} MB, "
          f"increase {result['peak_mb'] - result['baseline_mb']:.0f} MB")
    print(f"final Ratings {result['ratings_mb']:.0f} MB; peak increase / Ratings size = "
          f"{result['ratio']:.2f} (target < 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
