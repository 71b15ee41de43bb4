"""sparseals against its peers on the same generated data, side by side in one run.

    python benchmarks/compare_peers.py --data ml1m                # explicit and implicit
    python benchmarks/compare_peers.py --data ml20m --factors 64 --peers implicit spark

Peers (optional, never dependencies of sparseals): ``implicit`` (its CPU ALS, for the
implicit-feedback model) and Spark ALS (``pyspark``, ``local[N]``, when Java is present,
for both models). Same data, split, factors, threads and float32 for ours and implicit
(Spark solves in float64). Explicit: Spark's ``regParam`` is weighted by each row's
ratings count, so ours runs with ``reg_exponent=1`` and the same λ; quality is RMSE on a
seeded 90/10 split. Implicit: confidence 1 + α·r with α = 1 for all three; quality is
HitRate@10 / NDCG@10 on a leave-one-out split. Time per iteration: ours and implicit, the
median over the iterations of one fit; Spark, (fit(N) − fit(1)) / (N − 1), i.e. without
its block-building setup (fit(N)/N, with it, is printed too). GFLOP/s uses DESIGN §1's
cost model; peak RSS is sampled for this process (plus the JVM for Spark's rows).
Prints a table and writes a PNG bar chart (``--plot``).
"""

import argparse
import os
import shutil
import sys
import threading
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_implicit as ci  # noqa: E402  (its leave-one-out, quality and implicit runner)

import sparseals as sa  # noqa: E402
from sparseals.datasets import preset  # noqa: E402


class PeakTreeRSS:
    """Peak resident memory of this process (and its children: Spark's JVM) in the block."""

    def __init__(self, children=False):
        self._children = children

    def __enter__(self):
        import psutil

        self._me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        total = 0
        for proc in [self._me] + (self._me.children(recursive=True) if self._children else []):
            try:
                total += proc.memory_info().rss
            except Exception:  # a child that just ended
                pass
        self.peak = max(self.peak, total)

    def _run(self):
        while not self._stop.wait(0.05):
            self._sample()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def explicit_work(nnz, n_users, n_items, k):
    return (4 * nnz * k * k + (n_users + n_items) * k ** 3 / 3) / 1e9


def split_explicit(ratings, seed):
    rows = np.repeat(np.arange(ratings.shape[0], dtype=np.int32), np.diff(ratings.by_user.indptr))
    test = np.random.default_rng(seed).random(ratings.nnz) < 0.1
    cols, values = ratings.by_user.indices, ratings.by_user.data
    train = sa.Ratings.from_coo(rows[~test], cols[~test], values[~test], shape=ratings.shape)
    return train, (rows[test], cols[test], values[test])


def rmse(predicted, actual, clip=None):
    if clip is not None:
        predicted = np.clip(predicted, *clip)
    return float(np.sqrt(np.mean((predicted.astype(np.float64) - actual) ** 2)))


def ours_explicit(train, k, iterations, threads, reg):
    stamps = []
    model = sa.ExplicitALS(factors=k, regularization=reg, reg_exponent=1.0, iterations=iterations,
                           random_state=0, num_threads=threads,
                           callback=lambda it, loss: stamps.append(time.perf_counter()))
    sa.ExplicitALS(factors=k, iterations=1).fit(sp.random(50, 40, density=0.3, random_state=0))
    with PeakTreeRSS() as peak:
        start = time.perf_counter()
        model.fit(train)
    return model, float(np.median(np.diff([start] + stamps))), peak.peak


def spark_session(threads):
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(f"local[{threads}]").appName("sparseals-peers")
            .config("spark.driver.memory", "12g").config("spark.ui.enabled", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.shuffle.partitions", str(2 * threads)).getOrCreate())


def spark_frame(spark, ratings):
    import pandas as pd

    rows = np.repeat(np.arange(ratings.shape[0], dtype=np.int32), np.diff(ratings.by_user.indptr))
    frame = pd.DataFrame({"user": rows, "item": ratings.by_user.indices,
                          "rating": ratings.by_user.data.astype(np.float32)})
    return spark.createDataFrame(frame).cache()


def spark_fit(spark, frame, k, iterations, reg, implicit_prefs, threads):
    """Spark ALS: (fit(N) − fit(1)) / (N − 1) per iteration, fit(N) / N, factors, peak RSS."""
    from pyspark.ml.recommendation import ALS

    def fit(max_iter):
        als = ALS(rank=k, maxIter=max_iter, regParam=reg, implicitPrefs=implicit_prefs,
                  alpha=1.0, userCol="user", itemCol="item", ratingCol="rating", seed=0,
                  numUserBlocks=threads, numItemBlocks=threads, coldStartStrategy="drop")
        start = time.perf_counter()
        model = als.fit(frame)
        model.userFactors.count()  # force the lazy parts
        return model, time.perf_counter() - start

    frame.count()
    fit(1)  # warm up the JVM and the cached frame
    _, one = fit(1)
    with PeakTreeRSS(children=True) as peak:
        model, full = fit(iterations)
    per_iteration = (full - one) / max(iterations - 1, 1)
    return model, per_iteration, full / iterations, peak.peak


def spark_factors(model, n_users, n_items, k):
    users = np.zeros((n_users, k), dtype=np.float32)
    items = np.zeros((n_items, k), dtype=np.float32)
    for target, frame in ((users, model.userFactors), (items, model.itemFactors)):
        table = frame.toPandas()
        target[table["id"].to_numpy()] = np.vstack(table["features"].to_numpy())
    return users, items


def run_explicit(args, spark, out):
    ratings = preset(args.data, seed=args.seed)
    train, (tu, ti, tv) = split_explicit(ratings, args.seed)
    n_users, n_items = train.shape
    for k in args.factors:
        work = explicit_work(train.nnz, n_users, n_items, k)
        model, seconds, peak = ours_explicit(train, k, args.iterations, args.threads, args.reg)
        pred = model.predict(tu, ti)
        out.append(dict(model="explicit", library="sparseals", k=k, seconds=seconds,
                        gflops=work / seconds, peak=peak,
                        quality=f"RMSE {rmse(pred, tv):.4f} (clipped {rmse(pred, tv, (1, 5)):.4f})"))
        print(out[-1], flush=True)
        if spark is not None:
            frame = spark_frame(spark, train)
            smodel, per_it, with_setup, speak = spark_fit(spark, frame, k, args.iterations,
                                                          args.reg, False, args.threads)
            users, items = spark_factors(smodel, n_users, n_items, k)
            spred = np.einsum("ij,ij->i", users[tu], items[ti])
            out.append(dict(model="explicit", library="spark", k=k, seconds=per_it,
                            gflops=work / per_it, peak=speak, with_setup=with_setup,
                            quality=f"RMSE {rmse(spred, tv):.4f} "
                                    f"(clipped {rmse(spred, tv, (1, 5)):.4f})"))
            frame.unpersist()
            print(out[-1], flush=True)


def run_implicit(args, spark, out):
    import implicit.cpu.als as als

    ratings = preset(args.data, seed=args.seed, implicit=True)
    train_csr, users, held = ci.leave_one_out(sp.csr_matrix(ratings.csr), args.seed)
    train = sa.Ratings.from_sparse(train_csr)
    confidence = train_csr.copy()
    confidence.data = (1.0 + confidence.data).astype(np.float32)
    n_users, n_items = train.shape
    sa.ImplicitALS(factors=4, iterations=1).fit(train_csr[:200])  # JIT warm-up
    for k in args.factors:
        work = ci.gflop(train.nnz, n_users, n_items, k, "cg", 3)
        runs = [("sparseals", lambda: ci.fit_ours(train, k, "cg", args.iterations, args.threads, 3)),
                ("implicit", lambda: ci.fit_implicit(als, confidence, k, "cg", args.iterations,
                                                     args.threads))]
        for library, run in runs:
            with PeakTreeRSS() as peak:
                model, seconds = run()
            ranker = model if library == "sparseals" else ci.shell(model.user_factors,
                                                                   model.item_factors, train)
            hr, ndcg = ci.quality(ranker, users, held)
            out.append(dict(model="implicit cg", library=library, k=k,
                            seconds=float(np.median(seconds)),
                            gflops=work / float(np.median(seconds)), peak=peak.peak,
                            quality=f"HR@10 {hr:.4f} NDCG@10 {ndcg:.4f}"))
            print(out[-1], flush=True)
        if spark is not None:
            frame = spark_frame(spark, train)
            smodel, per_it, with_setup, speak = spark_fit(spark, frame, k, args.iterations,
                                                          0.01, True, args.threads)
            hr, ndcg = ci.quality(ci.shell(*spark_factors(smodel, n_users, n_items, k), train),
                                  users, held)
            exact = ci.gflop(train.nnz, n_users, n_items, k, "cholesky", 3)
            out.append(dict(model="implicit exact", library="spark", k=k, seconds=per_it,
                            gflops=exact / per_it, peak=speak, with_setup=with_setup,
                            quality=f"HR@10 {hr:.4f} NDCG@10 {ndcg:.4f}"))
            frame.unpersist()
            print(out[-1], flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="ml1m", choices=["ml100k", "ml1m", "ml20m", "netflix"])
    parser.add_argument("--factors", type=int, nargs="+", default=[64])
    parser.add_argument("--models", nargs="+", default=["explicit", "implicit"],
                        choices=["explicit", "implicit"])
    parser.add_argument("--peers", nargs="+", default=["implicit", "spark"],
                        choices=["implicit", "spark"])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reg", type=float, default=0.05, help="λ of the explicit fits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="write a PNG bar chart here")
    args = parser.parse_args(argv)

    spark = None
    if "spark" in args.peers and shutil.which("java"):
        spark = spark_session(args.threads)
    peak_sgemm = ci.sgemm_gflops(args.threads)
    rows = []
    if "explicit" in args.models:
        run_explicit(args, spark, rows)
    if "implicit" in args.models and "implicit" in args.peers:
        run_implicit(args, spark, rows)
    if spark is not None:
        spark.stop()

    print(f"\n{args.data}-shaped generated data, float32 ({args.threads} threads; Spark "
          f"local[{args.threads}] float64), {args.iterations} iterations; measured sgemm "
          f"{peak_sgemm:.0f} GFLOP/s ({ci.blas_cores()}); {time.strftime('%Y-%m-%d')}")
    print("| model | library | K | s/iter | ratio to sparseals | GFLOP/s | % sgemm | "
          "peak RSS GiB | quality |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ours = next(r for r in rows if r["library"] == "sparseals" and r["k"] == row["k"]
                    and r["model"].split()[0] == row["model"].split()[0])
        setup = f" ({row['with_setup']:.2f} with setup)" if "with_setup" in row else ""
        print(f"| {row['model']} | {row['library']} | {row['k']} | {row['seconds']:.3f}{setup} | "
              f"{row['seconds'] / ours['seconds']:.1f}× | {row['gflops']:.1f} | "
              f"{100 * row['gflops'] / peak_sgemm:.0f} | {row['peak'] / 2 ** 30:.2f} | "
              f"{row['quality']} |")
    if args.plot:
        plot(rows, args, args.plot)


def plot(rows, args, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    labels = [f"{r['model']}\n{r['library']} K={r['k']}" for r in rows]
    axes.bar(range(len(rows)), [r["seconds"] for r in rows],
             color=["tab:blue" if r["library"] == "sparseals" else "tab:gray" for r in rows])
    axes.set_xticks(range(len(rows)), labels, fontsize=7)
    axes.set_yscale("log")
    axes.set_ylabel("seconds per iteration (log)")
    axes.set_title(f"{args.data}-shaped data, {args.threads} threads")
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
