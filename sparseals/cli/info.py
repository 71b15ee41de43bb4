"""``sparseals info MODEL``: what a saved model file holds."""

import os

from ._common import print_json, print_table


def add_parser(commands):
    parser = commands.add_parser(
        "info", help="parameters, shapes and loss history of a saved model",
        description="Describe a model file written by sparseals fit or model.save.")
    parser.add_argument("model", metavar="MODEL", help="a saved model (.npz)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(run=run)
    return parser


def run(args):
    from ..persistence import _load

    model, meta = _load(args.model)  # validates the whole file first
    report = {
        "file": args.model, "bytes": os.path.getsize(args.model), "model": meta["model"],
        "format_version": meta["format_version"], "library_version": meta["library_version"],
        "users": len(model.user_factors_), "items": len(model.item_factors_),
        "factors": model.user_factors_.shape[1], "dtype": model.user_factors_.dtype.name,
        "training_ratings": int(model._seen.indptr[-1]),
        "params": {k: v for k, v in meta["params"].items() if k != "callback"},
        "loss_history": list(getattr(model, "loss_history_", [])),
    }
    if getattr(model, "validation_history_", None) is not None:
        report["early_stopping"] = {"metric": model.validation_metric_,
                                    "best_iteration": model.best_iteration_ + 1,
                                    "history": list(model.validation_history_)}
    if args.json:
        print_json(report)
    else:
        _print(report)
    return 0


def _print(report):
    params = ", ".join(f"{k}={v!r}" for k, v in report["params"].items())
    losses = report["loss_history"]
    rows = [
        ["model", report["model"]],
        ["file", f"{report['file']} ({report['bytes']:,} bytes, format version "
                 f"{report['format_version']}, written by sparseals {report['library_version']})"],
        ["shape", f"{report['users']:,} users × {report['items']:,} items, "
                  f"{report['training_ratings']:,} training ratings"],
        ["factors", f"{report['factors']} ({report['dtype']})"],
        ["parameters", params],
        ["loss history", f"{len(losses)} iterations" + (
            f": first {losses[0]:.6g}, last {losses[-1]:.6g}" if losses else "")],
    ]
    stopping = report.get("early_stopping")
    if stopping:
        best = stopping["best_iteration"]
        rows.append(["early stopping", f"held-out {stopping['metric']} "
                                       f"{stopping['history'][best - 1]:.4f} at iteration {best} "
                                       f"of {len(stopping['history'])} (kept)"])
    print_table(None, rows)
    if losses:
        print("loss per iteration: " + " ".join(f"{x:.6g}" for x in losses))
