"""Seconds a first fit costs for the JIT compile, per model, in fresh processes.

    python benchmarks/first_fit.py [--repeat 3]

For each model, a fresh Python process with an empty numba cache imports sparseals and
fits a 300 × 200 matrix (10 % observed, ratings 1–5) for 2 iterations twice; the first
fit minus the second is the cost of compiling (the import included). A second process
with the now-filled cache gives what a later process pays. Each is repeated
``--repeat`` times with a new cache; the table gives medians and ranges.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

MODELS = {
    "ExplicitALS": "sa.ExplicitALS(factors=8, iterations=2)",
    "ExplicitALS(nonnegative=True)": "sa.ExplicitALS(factors=8, iterations=2, nonnegative=True)",
    "ImplicitALS (CG)": "sa.ImplicitALS(factors=8, iterations=2)",
    "ImplicitALS (Cholesky)": "sa.ImplicitALS(factors=8, iterations=2, solver='cholesky')",
}
"""Model constructors measured, by label (``sa`` is the imported sparseals)."""

_CODE = """\
import time
start = time.perf_counter()
import numpy as np
import sparseals as sa
rng = np.random.default_rng(0)
ratings = np.where(rng.random((300, 200)) < 0.1, rng.integers(1, 6, (300, 200)), np.nan)
{model}.fit(ratings)
first = time.perf_counter()
{model}.fit(ratings)
print((first - start) - (time.perf_counter() - first))
"""


def first_fit_seconds(model=MODELS["ExplicitALS"]):
    """(first fit with an empty cache, a later process with that cache), in seconds of
    compile (or cache load) beyond a warm fit; ``model`` builds the model from ``sa``."""
    code = _CODE.format(model=model)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                  text=True, check=True)
            out.append(float(done.stdout.strip().splitlines()[-1]))
    return tuple(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    print("| model | first fit: compile s (median, min–max) | later process: cache s |")
    print("|---|---:|---:|")
    for label in args.models:
        runs = [first_fit_seconds(MODELS[label]) for _ in range(args.repeat)]
        first = [r[0] for r in runs]
        cached = [r[1] for r in runs]
        print(f"| {label} | {statistics.median(first):.1f} ({min(first):.1f}–{max(first):.1f}) "
              f"| {statistics.median(cached):.2f} |", flush=True)


if __name__ == "__main__":
    main()
