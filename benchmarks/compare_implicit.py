"""sparseals.ImplicitALS against implicit.cpu.als, side by side in one run (issue 3).

Same generated data (ml20m-shaped implicit counts, ``--scale`` for quick runs), float32,
the same thread count, factors 64 and 128, both solvers. implicit runs with BLAS held to
one thread (threadpoolctl), as it asks; it is given the confidence matrix ``1 + α·r``
with ``alpha=1`` so that both fit the same model. The two libraries alternate within
each configuration; the time per iteration is the median over the iterations of a fit
(ours includes computing the training loss every iteration; implicit's does not).
Quality: HitRate@10 / NDCG@10 (= 1/log2(rank + 2)) on a leave-one-out split, each
model ranking all items except the user's training items, with a most-popular baseline.
Top-n throughput: recommend 10 items for every user, excluding seen items.

Usage::

    python benchmarks/compare_implicit.py                 # the full 20M-rating data
    python benchmarks/compare_implicit.py --scale 0.02    # a quick run

``implicit`` is not a dependency of sparseals: ``pip install implicit`` to run this.
"""

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import sparseals as sa
from sparseals.datasets import preset


def leave_one_out(csr, seed):
    """Hold out one random interaction of every user with ≥ 5; returns (train, users, items)."""
    rng = np.random.default_rng(seed)
    counts = np.diff(csr.indptr)
    users = np.flatnonzero(counts >= 5)
    picks = csr.indptr[users] + (rng.random(len(users)) * counts[users]).astype(np.int64)
    held = csr.indices[picks].copy()
    keep = np.ones(csr.nnz, dtype=bool)
    keep[picks] = False
    rows = np.repeat(np.arange(csr.shape[0]), counts)[keep]
    train = sp.csr_matrix((csr.data[keep], (rows, csr.indices[keep])), shape=csr.shape)
    return train, users, held


def shell(user_factors, item_factors, train_ratings):
    """An ImplicitALS holding given factors, to rank with one code path for both libraries."""
    model = sa.ImplicitALS(factors=user_factors.shape[1], num_threads=-1)
    model.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
    model.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
    model._seen = train_ratings.by_user
    model.user_ids_, model.item_ids_ = train_ratings.user_ids, train_ratings.item_ids
    return model


def quality(model, users, held, n=10):
    """HitRate@n and NDCG@n of the held-out items."""
    top, _ = model.recommend(users, n=n)
    hit = top == held[:, None]
    rank = np.argmax(hit, axis=1)
    found = hit.any(axis=1)
    return float(found.mean()), float(np.where(found, 1.0 / np.log2(rank + 2.0), 0.0).mean())


def gflop(nnz, n_users, n_items, k, solver, steps):
    """Work of one iteration (DESIGN §1 cost model)."""
    if solver == "cg":
        return steps * (8 * nnz * k + 2 * (n_users + n_items) * k * k) / 1e9
    rows = n_users + n_items
    return (4 * nnz * k * k + rows * k ** 3 / 3 + 2 * rows * k * k) / 1e9


def sgemm_gflops(threads, size=2048):
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    with threadpool_limits(threads, "blas"):
        a @ a
        best = min(_timed(lambda: a @ a) for _ in range(3))
    return 2 * size ** 3 / best / 1e9


def blas_cores():
    """The kernels each loaded OpenBLAS runs ('Haswell', 'SkylakeX', ...): sgemm and every
    BLAS-bound figure depend on them (see sparseals._threads.blas_advice)."""
    from threadpoolctl import threadpool_info

    cores = ", ".join(sorted({f"OpenBLAS {info.get('version')} {info.get('architecture')}"
                              for info in threadpool_info()
                              if info.get("internal_api") == "openblas"}))
    forced = [f"{name}={os.environ[name]}" for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
              if name in os.environ]
    return f"{cores}; set: {' '.join(forced)}" if forced else cores


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fit_ours(train_ratings, k, solver, iterations, threads, steps):
    stamps = []
    model = sa.ImplicitALS(factors=k, regularization=0.01, alpha=1.0, solver=solver,
                           cg_steps=steps, iterations=iterations, random_state=0,
                           num_threads=threads,
                           callback=lambda it, loss: stamps.append(time.perf_counter()))
    start = time.perf_counter()
    model.fit(train_ratings)
    return model, np.diff([start] + stamps)


def fit_implicit(als, confidence, k, solver, iterations, threads):
    seconds = []
    with threadpool_limits(1, "blas"):
        model = als.AlternatingLeastSquares(factors=k, regularization=0.01, alpha=1.0,
                                            use_cg=solver == "cg",  # 3 CG steps, fixed
                                            iterations=iterations, num_threads=threads,
                                            random_state=0, dtype=np.float32,
                                            calculate_training_loss=False)
        model.fit(confidence, show_progress=False,
                  callback=lambda it, elapsed, loss: seconds.append(elapsed))
    return model, np.array(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the 20M ratings to generate (default 1)")
    parser.add_argument("--factors", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--solvers", nargs="+", default=["cg", "cholesky"],
                        choices=["cg", "cholesky"])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--cg-steps", type=int, default=3,
                        help="ours; implicit's CPU model always takes 3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import implicit
    import implicit.cpu.als as als

    t0 = time.perf_counter()
    ratings = preset("ml20m", seed=args.seed, implicit=True, scale=args.scale)
    train_csr, users, held = leave_one_out(sp.csr_matrix(ratings.csr), args.seed)
    train = sa.Ratings.from_sparse(train_csr)
    confidence = train_csr.copy()
    confidence.data = (1.0 + 1.0 * confidence.data).astype(np.float32)  # c = 1 + α·r, α = 1
    n_users, n_items = train.shape
    print(f"data: {train!r}; {len(users)} held-out users; prepared in "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"implicit {implicit.__version__}, sparseals {sa.__version__}, float32, "
          f"{args.threads} threads, {args.iterations} iterations per fit, "
          f"cg_steps={args.cg_steps}; sgemm {sgemm_gflops(args.threads):.0f} GFLOP/s "
          f"({blas_cores()})")

    # JIT warm-up (loads the cache, or compiles once) on a tiny problem
    sa.ImplicitALS(factors=4, iterations=1, solver="cg").fit(train_csr[:200])
    sa.ImplicitALS(factors=4, iterations=1, solver="cholesky").fit(train_csr[:200])

    popular = shell(np.ones((n_users, 1)), np.diff(train.by_item.indptr)[:, None].astype(float),
                    train)
    hr_pop, ndcg_pop = quality(popular, users, held)

    rows = []
    recommend_models = {}
    for index, (k, solver) in enumerate((k, s) for k in args.factors for s in args.solvers):
        order = ["implicit", "sparseals"] if index % 2 == 0 else ["sparseals", "implicit"]
        result = {}
        for library in order:
            if library == "sparseals":
                model, seconds = fit_ours(train, k, solver, args.iterations, args.threads,
                                          args.cg_steps)
                ranker = model
            else:
                model, seconds = fit_implicit(als, confidence, k, solver, args.iterations,
                                              args.threads)
                ranker = shell(model.user_factors, model.item_factors, train)
            hr, ndcg = quality(ranker, users, held)
            result[library] = (float(np.median(seconds)), hr, ndcg)
            recommend_models.setdefault(k, {})[library] = model
            print(f"  {library:9s} K={k:3d} {solver:8s} s/iter {np.round(seconds, 2)} "
                  f"HR@10 {hr:.4f} NDCG@10 {ndcg:.4f}", flush=True)
        work = gflop(train.nnz, n_users, n_items, k, solver, args.cg_steps)
        rows.append((k, solver, result, work))

    # top-10 for every user, seen items excluded
    throughput = []
    all_users = np.arange(n_users)
    for k, models in recommend_models.items():
        theirs = models["implicit"]
        with threadpool_limits(1, "blas"):
            t_theirs = min(_timed(lambda: theirs.recommend(all_users, train_csr, N=10,
                                                           filter_already_liked_items=True))
                           for _ in range(2))
        ours = models["sparseals"]
        t_ours = min(_timed(lambda: ours.recommend(all_users, n=10)) for _ in range(2))
        throughput.append((k, n_users / t_theirs, n_users / t_ours))

    print()
    print(f"ml20m-shaped implicit counts, scale {args.scale}: {n_users} users × {n_items} items, "
          f"{train.nnz} training interactions; most-popular HR@10 {hr_pop:.4f} "
          f"NDCG@10 {ndcg_pop:.4f}")
    header = (f"{'K':>4} {'solver':8} {'implicit s/it':>13} {'sparseals s/it':>14} {'ratio':>6} "
              f"{'GFLOP/s':>8} {'HR@10 imp':>9} {'HR@10 ours':>10} {'NDCG imp':>8} "
              f"{'NDCG ours':>9}")
    print(header)
    print("-" * len(header))
    for k, solver, result, work in rows:
        ti, hi, ni = result["implicit"]
        to, ho, no = result["sparseals"]
        print(f"{k:>4} {solver:8} {ti:>13.3f} {to:>14.3f} {to / ti:>6.2f} {work / to:>8.1f} "
              f"{hi:>9.4f} {ho:>10.4f} {ni:>8.4f} {no:>9.4f}")
    print()
    print(f"{'K':>4} {'implicit users/s':>16} {'sparseals users/s':>17} {'speed-up':>8}  "
          "(top-10 for all users, seen excluded)")
    for k, theirs, ours in throughput:
        print(f"{k:>4} {theirs:>16.0f} {ours:>17.0f} {ours / theirs:>8.2f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
