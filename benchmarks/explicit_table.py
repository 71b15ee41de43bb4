"""Seconds per iteration, peak memory and GFLOP/s of ExplicitALS; prints a table.

    python benchmarks/explicit_table.py                 # 1M and 20M ratings, K = 16, 64, 128
    python benchmarks/explicit_table.py --data ml1m --factors 64
    python benchmarks/explicit_table.py --data ml1m ml20m@0.25 ml20m netflix --factors 64 \
        --plot scaling.png          # time per iteration against the number of ratings

Each data set runs in a child process (so its memory is its own). Per configuration: one
warm-up iteration (JIT compile, cached across runs), then the median of ``--repeat`` timed
iterations. GFLOP/s uses DESIGN §1's cost model: 4·nnz·K² for the Gram matrices plus
(N + M)·K³/3 for the Cholesky factorisations. Peak memory is the process's resident set
sampled during a fit (after a warm-up fit), beside the size of what a fit must hold (CSR + CSC + factors).
The first-call JIT compile time is measured in a child with an empty numba cache
(:mod:`first_fit`).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_implicit import blas_cores  # noqa: E402
from first_fit import first_fit_seconds  # noqa: E402


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples this process's resident set every few milliseconds while in the block."""

    def __enter__(self):
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def sgemm_gflops(threads, n=4096, repeat=3):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    with threadpool_limits(threads, "blas"):
        a @ b
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
    return 2 * n ** 3 / np.median(times) / 1e9


def run_data(name, factors, repeat, threads, dtype):
    """Child: generate one data set, time every K, print one JSON line per K."""
    import sparseals as sa
    from sparseals.datasets import preset

    preset_name, _, scale = name.partition("@")  # e.g. "ml20m@0.25": a quarter of its ratings
    ratings = preset(preset_name, dtype=dtype, scale=float(scale or 1))
    n_users, n_items = ratings.shape
    data_bytes = sum(a.nbytes for side in (ratings.by_user, ratings.by_item) for a in side)
    for k in factors:
        model = sa.ExplicitALS(factors=k, regularization=0.05, iterations=1, dtype=dtype,
                               random_state=0, num_threads=threads)
        model.fit(ratings)  # warm-up: JIT compile (or cache load) outside the measurements
        base = rss_bytes()
        with PeakRSS() as peak:
            model.fit(ratings)  # initialisation and one iteration
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                model._iterate(ratings)
                times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        flops = 4 * ratings.nnz * k * k + (n_users + n_items) * k ** 3 / 3
        factor_bytes = (n_users + n_items) * k * np.dtype(dtype).itemsize
        print(json.dumps(dict(data=name, nnz=ratings.nnz, k=k, seconds=seconds,
                              spread=[float(min(times)), float(max(times))],
                              gflops=flops / seconds / 1e9, peak_rss=peak.peak,
                              fit_extra=peak.peak - base, needed=data_bytes + factor_bytes)),
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["ml1m", "ml20m"])
    parser.add_argument("--factors", nargs="+", type=int, default=[16, 64, 128])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--plot", help="PNG of seconds per iteration against ratings")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_data(args.data[0], args.factors, args.repeat, args.threads, args.dtype)
        return

    peak = sgemm_gflops(args.threads)
    rows = []
    for name in args.data:
        command = [sys.executable, __file__, "--child", "--data", name, "--repeat",
                   str(args.repeat), "--threads", str(args.threads), "--dtype", args.dtype,
                   "--factors", *map(str, args.factors)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows += [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    first, cached = first_fit_seconds()

    print(f"ExplicitALS, {args.dtype}, {args.threads} threads; measured sgemm peak "
          f"{peak:.0f} GFLOP/s ({blas_cores()}); {time.strftime('%Y-%m-%d')}, "
          f"{os.uname().nodename}")
    print("| data | ratings | K | s/iter (min–max) | GFLOP/s | % sgemm | peak RSS GiB | "
          "fit extra GiB | CSR+CSC+factors GiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    gib = 2.0 ** 30
    for r in rows:
        print(f"| {r['data']} | {r['nnz']:,} | {r['k']} | {r['seconds']:.3f} "
              f"({r['spread'][0]:.3f}–{r['spread'][1]:.3f}) | {r['gflops']:.1f} | "
              f"{100 * r['gflops'] / peak:.0f} | {r['peak_rss'] / gib:.2f} | "
              f"{r['fit_extra'] / gib:.2f} | {r['needed'] / gib:.2f} |")
    print(f"JIT compile on first fit (empty cache): {first:.1f} s; "
          f"a later process with the cache: {cached:.2f} s extra")
    if args.plot:
        plot_scaling(rows, args.plot)


def plot_scaling(rows, path):
    """Seconds per iteration against ratings, one line per K, log–log with a linear guide."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for k in sorted({r["k"] for r in rows}):
        mine = sorted((r["nnz"], r["seconds"]) for r in rows if r["k"] == k)
        nnz, seconds = np.array(mine).T
        axes.loglog(nnz, seconds, "o-", label=f"K = {k}")
        axes.loglog(nnz, seconds[0] * nnz / nnz[0], ":", color="gray")
    axes.set_xlabel("ratings")
    axes.set_ylabel("seconds per iteration")
    axes.set_title("ExplicitALS: cost per iteration (dotted: linear in ratings)")
    axes.legend()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
