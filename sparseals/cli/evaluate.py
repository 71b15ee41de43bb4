"""``sparseals evaluate DATA``: accuracy of a model setting on a random split or k folds."""

import time

from ._common import (CLIError, add_data_options, add_model_options, build_model, options_named,
                      print_json, print_table, read_data)

_DEFAULT_METRICS = {"explicit": "rmse,mae", "implicit": "precision,recall,ndcg,map,hit_rate"}


def add_parser(commands):
    parser = commands.add_parser(
        "evaluate", help="score a model setting on held-out ratings (random split or k-fold)",
        description="Fit the model on part of the ratings and score it on the rest: one random "
                    "split (--test-size) or k-fold cross-validation (--kfold K).")
    add_data_options(parser)
    add_model_options(parser)
    protocol = parser.add_argument_group("protocol")
    protocol.add_argument("--test-size", type=float, metavar="FRACTION",
                          help="fraction held out by the random split (default 0.2)")
    protocol.add_argument("--kfold", type=int, metavar="K",
                          help="K-fold cross-validation with random folds instead of one split")
    protocol.add_argument("--seed", type=int, default=0,
                          help="seed of the split or the folds, and of the initial factors "
                               "unless --random-state is given (default 0)")
    protocol.add_argument("--metrics", help="comma-separated names from rmse, mae, precision, "
                                            "recall, ndcg, map, hit_rate, auc (default: rmse,mae "
                                            "for explicit; the ranking ones for implicit)")
    protocol.add_argument("-k", type=int, default=10,
                          help="length of the top-k lists of ranking metrics (default 10)")
    protocol.add_argument("--clip", type=float, nargs=2, metavar=("LOW", "HIGH"),
                          help="clip predictions to the rating scale before RMSE / MAE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)
    return parser


def run(args):
    from ..metrics import _check_options, _metric_names

    names = args.metrics if args.metrics is not None else _DEFAULT_METRICS[args.model]
    metrics = _metric_names([n.strip() for n in names.split(",") if n.strip()])
    clip = None if args.clip is None else tuple(args.clip)
    try:  # before the data is read and the model fitted, not after
        _check_options(args.k, clip, True, None)
    except ValueError as error:
        option = "-k" if str(error).startswith("k ") else "--clip"
        raise CLIError(f"{option}: {error}") from None
    if args.kfold is not None and args.kfold < 2:
        raise CLIError(f"--kfold must be at least 2; got {args.kfold}")
    if args.kfold is not None and args.test_size is not None:
        raise CLIError("--test-size applies to the random split; with --kfold K each fold holds "
                       "out 1/K")
    if args.test_size is None:
        args.test_size = 0.2
    if args.seed < 0:  # checked here: the split's own error would blame --test-size
        raise CLIError(f"--seed must be a non-negative integer; got {args.seed}")
    model = build_model(args)
    if model.random_state is None:  # an evaluation is repeatable: the same command, the same scores
        model.set_params(random_state=args.seed)
    ratings = read_data(args, model.dtype)
    with options_named():  # the model's checks during its fits name its parameters
        if args.kfold is not None:
            scores = _kfold(model, ratings, args, metrics, clip)
        else:
            scores = _split(model, ratings, args, metrics, clip)
    report = {"data": args.data, "ratings": ratings.nnz, "shape": list(ratings.shape),
              "model": type(model).__name__, "params": _params(model), **scores}
    if args.json:
        print_json(report)
    else:
        _print(report, metrics)
    return 0


def _split(model, ratings, args, metrics, clip):
    from ..metrics import evaluate
    from ..model_selection import train_test_split

    try:
        train, test = train_test_split(ratings, test_size=args.test_size, random_state=args.seed)
    except ValueError as error:
        raise CLIError(f"--test-size {args.test_size}: {error}") from None
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    values = evaluate(model, test, metrics, k=args.k, clip=clip)
    return {"protocol": "split", "test_size": args.test_size, "seed": args.seed,
            "metrics": values, "fit_time": seconds}


def _kfold(model, ratings, args, metrics, clip):
    from ..model_selection import cross_validate

    scores = cross_validate(model, ratings, cv=args.kfold, metrics=metrics, k=args.k, clip=clip,
                            random_state=args.seed)
    values = {name: {"mean": float(scores[name].mean()), "std": float(scores[name].std()),
                     "folds": scores[name].tolist()} for name in metrics}
    return {"protocol": "kfold", "folds": args.kfold, "seed": args.seed, "metrics": values,
            "fit_time": float(scores["fit_time"].sum())}


def _params(model):
    return {name: value for name, value in model.get_params().items()
            if name not in ("callback", "show_progress")}


def _print(report, metrics):
    shown = ", ".join(f"{k}={v}" for k, v in report["params"].items() if v is not None)
    print(f"{report['model']}({shown}) on {report['data']}: {report['ratings']:,} ratings, "
          f"{report['shape'][0]:,} users × {report['shape'][1]:,} items")
    values = report["metrics"]
    if report["protocol"] == "split":
        print(f"random split, {report['test_size']:g} held out (seed {report['seed']}); fit "
              f"{report['fit_time']:.1f} s")
        print_table(["metric", "value"], [[name, values[name]] for name in metrics])
        return
    folds = report["folds"]
    print(f"{folds}-fold cross-validation, random folds (seed {report['seed']}); fits "
          f"{report['fit_time']:.1f} s in all")
    print_table(["metric", "mean", "std"] + [f"fold {f + 1}" for f in range(folds)],
                [[name, values[name]["mean"], values[name]["std"]] + values[name]["folds"]
                 for name in metrics])
