"""Seconds per iteration and bytes moved of ``sparseals.distributed.fit`` on a LocalCluster.

    python benchmarks/distributed_scaling.py                       # ml20m-shaped, K = 32
    python benchmarks/distributed_scaling.py --scale 0.05          # a quick 1M-rating run

Runs, on the same generated ratings (``sparseals.datasets.preset``) and the same model
(ExplicitALS, float32): the single-machine fit, then ``distributed.fit`` on a LocalCluster
of 1 worker × 2 threads and of 2 workers × 1 thread, broadcast and routed, with blocks
per side = threads and = 2 × threads. Per run: the median seconds per iteration (the first
iteration is left out: it includes loading the JIT cache in fresh worker processes), the
factor bytes delivered to the blocks per iteration (``distributed_history_``) and the bytes
the workers actually sent each other (``Worker.transfer_outgoing_bytes_total``; blocks on the
same worker share data without the network). It also prints the per-rating kernel cost and
the bytes per factor row that ``benchmarks/DISTRIBUTED.md`` extrapolates from.
Results go to stdout (a Markdown table) and, with ``--json FILE``, to a file.
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np


def per_iteration(stamps):
    """Median of the gaps between iteration end times, the first iteration left out."""
    gaps = np.diff(stamps)
    return float(statistics.median(gaps)) if len(gaps) else float("nan")


def single_machine(ratings, args, label="single machine (2 threads)"):
    import sparseals as sa

    sa.ExplicitALS(factors=args.factors, iterations=1).fit(ratings.csr[:1000])  # JIT warm-up
    stamps = []
    start = time.perf_counter()
    model = sa.ExplicitALS(factors=args.factors, iterations=args.iterations, random_state=0,
                           callback=lambda it, loss: stamps.append(time.perf_counter()))
    model.fit(ratings)
    return {"config": label, "workers": 0, "threads": 2, "blocks": "-",
            "routing": "-", "seconds_per_iteration": per_iteration(stamps),
            "first_iteration": stamps[0] - start, "loss": model.loss_history_[-1],
            "bytes_per_iteration": 0, "network_bytes_per_iteration": 0}


def _median_gap(totals):
    """Median bytes sent per iteration, the first iteration left out."""
    gaps = np.diff(totals)[1:]
    return float(np.median(gaps)) if len(gaps) else float("nan")


def routed_copies(ratings, blocks):
    """Factor rows delivered per iteration with routing, exactly and as predicted.

    Exact: for each side, the number of (row, other-side block) pairs with a rating
    (nnz-balanced blocks, as ``distributed.fit`` makes them). Predicted from the
    degrees alone: a row with n ratings reaches ``B (1 − (1 − 1/B)^n)`` of B blocks
    when each rating lands in a block with probability 1/B.
    """
    from sparseals.distributed._blocks import bounds

    out = {}
    for side, rows, other in (("user", ratings.by_user, ratings.by_item),
                              ("item", ratings.by_item, ratings.by_user)):
        n_rows = len(rows.indptr) - 1
        cuts = bounds(len(other.indptr) - 1, blocks, other.indptr)
        col_block = np.searchsorted(cuts, rows.indices, side="right") - 1
        owner = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(rows.indptr))
        exact = len(np.unique(owner * blocks + col_block))
        degrees = np.diff(rows.indptr).astype(np.float64)
        predicted = float(np.sum(blocks * (1 - (1 - 1 / blocks) ** degrees)))
        out[side] = {"rows": n_rows, "exact": exact, "predicted": predicted}
    return out


def sent_bytes(client):
    totals = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
    return sum(totals.values())


def distributed_run(ratings, args, n_workers, threads, blocks, routing, warmup):
    from dask.distributed import Client, LocalCluster

    import sparseals as sa
    import sparseals.distributed as sd

    with LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        sd.fit(sa.ExplicitALS(factors=args.factors, iterations=1), warmup, client, blocks=blocks,
               routing=routing)  # loads the JIT cache in the workers
        stamps, network = [], []

        def record(iteration, loss):
            stamps.append(time.perf_counter())
            network.append(sent_bytes(client))

        before = sent_bytes(client)
        start = time.perf_counter()
        model = sd.fit(sa.ExplicitALS(factors=args.factors, iterations=args.iterations,
                                      random_state=0, callback=record),
                       ratings, client, blocks=blocks, routing=routing)
        history = model.distributed_history_
        key = "bytes_routed" if routing == "routed" else "bytes_broadcast"
        return {"config": f"{n_workers} worker{'s' * (n_workers > 1)} × {threads} thread"
                          f"{'s' * (threads > 1)}",
                "workers": n_workers, "threads": threads, "blocks": blocks, "routing": routing,
                "seconds_per_iteration": per_iteration(stamps),
                "iteration_seconds": [h["seconds"] for h in history],
                "setup_seconds": stamps[0] - history[0]["seconds"] - start,
                "loss": model.loss_history_[-1],
                "bytes_per_iteration": history[-1][key],
                "network_bytes_per_iteration": _median_gap([before] + network)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="ml20m")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--calibration-scale", type=float, default=0.02,
                        help="a second single-machine fit on this fraction of the ratings (same "
                             "users and items) separates per-rating and per-row costs")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()

    from sparseals.datasets import preset

    start = time.perf_counter()
    ratings = preset(args.data, scale=args.scale)
    warmup = preset("ml100k")
    print(f"{args.data} × {args.scale}: {ratings} (generated in "
          f"{time.perf_counter() - start:.0f} s); ExplicitALS K={args.factors}, float32, "
          f"{args.iterations} iterations", flush=True)
    routed_rows = {blocks: routed_copies(ratings, blocks) for blocks in (2, 4, 16, 64)}
    print(json.dumps(routed_rows), flush=True)
    calibration = preset(args.data, scale=args.calibration_scale)
    small_fit = single_machine(calibration, args,
                               label=f"single machine, {args.calibration_scale} of the ratings")
    small_fit["nnz"] = calibration.nnz
    del calibration
    print(small_fit, flush=True)
    runs = [single_machine(ratings, args)]
    print(runs[-1], flush=True)
    for n_workers, threads in ((1, 2), (2, 1)):
        for blocks in (2, 4):
            for routing in ("broadcast", "routed"):
                if n_workers == 1 and routing == "routed" and blocks == 4:
                    continue
                runs.append(distributed_run(ratings, args, n_workers, threads, blocks, routing,
                                            warmup))
                print(runs[-1], flush=True)

    nnz, (n_users, n_items) = ratings.nnz, ratings.shape
    single = runs[0]["seconds_per_iteration"]
    # t = (2·nnz·c_rating + (N + M)·c_row) / threads, from two fits with the same N and M
    small_nnz, small_time = small_fit["nnz"], small_fit["seconds_per_iteration"]
    c_rating = 2 * (single - small_time) / (2 * (nnz - small_nnz))
    c_row = (2 * small_time - 2 * small_nnz * c_rating) / (n_users + n_items)
    derived = {
        "nnz": nnz, "n_users": n_users, "n_items": n_items, "factors": args.factors,
        # both half-steps touch every rating once: 2·nnz rating-updates per iteration, 2 threads
        "kernel_ns_per_rating_per_thread": single * 2 / (2 * nnz) * 1e9,
        "ns_per_rating_update_per_thread": c_rating * 1e9,
        "ns_per_row_solve_per_thread": c_row * 1e9,
        "calibration_fit": small_fit,
        "routed_rows": routed_rows,
        "bytes_per_factor_row": args.factors * 4,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    print("\n| run | blocks/side | routing | s / iteration | factor bytes / iteration "
          "(to blocks) | bytes over the network / iteration |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        print(f"| {run['config']} | {run['blocks']} | {run['routing']} | "
              f"{run['seconds_per_iteration']:.2f} | {run['bytes_per_iteration'] / 1e6:.1f} MB | "
              f"{run['network_bytes_per_iteration'] / 1e6:.1f} MB |")
    print("\n" + json.dumps(derived, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "derived": derived}, f, indent=1)


if __name__ == "__main__":
    main()
