"""``sparseals fit DATA -o MODEL``: fit a model to a ratings file and save it."""

import os
import time

from .._threads import blas_advice
from ..persistence import check_target
from ._common import (CLIError, add_data_options, add_model_options, build_model, options_named,
                      read_data)


def add_parser(commands):
    parser = commands.add_parser(
        "fit", help="fit a model to a ratings file and save it",
        description="Read a ratings file, fit ExplicitALS (or ImplicitALS with --model implicit) "
                    "and save the model to one .npz file (load it with sparseals.load).")
    add_data_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="MODEL",
                        help="where to save the fitted model (.npz)")
    add_model_options(parser)
    stopping = parser.add_argument_group("early stopping")
    stopping.add_argument("--validation", type=float, metavar="FRACTION",
                          help="hold out this fraction of the ratings at random and stop when "
                               "the held-out metric stops improving (the best iteration is kept)")
    stopping.add_argument("--metric", help="held-out metric (default: rmse for explicit, ndcg "
                                           "for implicit)")
    stopping.add_argument("--patience", type=int,
                          help="iterations without improvement before stopping (default 3)")
    stopping.add_argument("--split-seed", type=int,
                          help="seed of the held-out split (default 0)")
    parser.add_argument("--plot", metavar="PNG",
                        help="save a plot of the loss per iteration (needs matplotlib); .png "
                             "is added to a name without a suffix")
    cluster = parser.add_argument_group("fitting on a Dask cluster (pip install sparseals[dask])")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="fit on the dask.distributed cluster at ADDRESS "
                              "(e.g. tcp://10.0.0.5:8786) instead of this machine")
    cluster.add_argument("--blocks", type=int, metavar="N",
                         help="blocks per side on the cluster (default: one per worker)")
    cluster.add_argument("--routing", choices=["broadcast", "routed"],
                         help="ship all fixed factors to every block, or only the rows each "
                              "block references (default: broadcast)")
    cluster.add_argument("--connect-timeout", type=float, metavar="SECONDS",
                         help="give up connecting to the scheduler after this long (default 30)")
    parser.set_defaults(run=run)
    return parser


def run(args):
    # the output paths are checked before the data is read and fitted, not after
    check_target(args.output)
    if args.plot is not None:
        args.plot = _plot_path(args.plot)
    if args.validation is None:
        _applies_only_with(args, ("metric", "patience", "split_seed"), "--validation FRACTION",
                           "early stopping")
    if args.scheduler is None:
        _applies_only_with(args, ("blocks", "routing", "connect_timeout"), "--scheduler ADDRESS",
                           "fitting on a Dask cluster")
    for option, path in (("-o", args.output), ("--plot", args.plot)):
        if (path is not None and os.path.exists(path) and os.path.exists(args.data)
                and os.path.samefile(path, args.data)):
            raise CLIError(f"{option} {path} is the data file itself; choose another path")
    if args.split_seed is not None and args.split_seed < 0:  # the split would blame
        raise CLIError(f"--split-seed must be a non-negative integer; got {args.split_seed}")
    if args.plot is not None:
        if os.path.abspath(args.plot) == os.path.abspath(args.output):
            raise CLIError("--plot and -o name the same file; choose two paths")
        _check_plot_format(args.plot)
    model = build_model(args)
    start = time.perf_counter()
    ratings = read_data(args, model.dtype)
    seconds = time.perf_counter() - start
    advice = blas_advice()  # once the data is read: a command refused on its input says only why
    if advice:
        print(f"note: {advice}")
    print(f"read {ratings.nnz:,} ratings of {ratings.shape[0]:,} users × "
          f"{ratings.shape[1]:,} items from {args.data} ({seconds:.1f} s)")
    start = time.perf_counter()
    # the model's checks during the fit name its parameters
    with options_named({"metric": "--metric", "patience": "--patience", "blocks": "--blocks"}):
        _fit_model(model, ratings, args)
    seconds = time.perf_counter() - start
    # saved before anything more is printed: a reader of stdout that went away (| head)
    # must not cost the fit
    model.save(args.output)
    if args.plot is not None:
        _plot(model, args.plot)
    done = len(getattr(model, "validation_history_", model.loss_history_))  # iterations run
    print(f"fitted {model!r}: {done} iterations in {seconds:.1f} s, final loss "
          f"{model.loss_history_[-1]:.6g}")
    if args.validation is not None:
        best = model.best_iteration_
        print(f"early stopping: held-out {model.validation_metric_} "
              f"{model.validation_history_[best]:.4f} at iteration {best + 1} (of {done} run, "
              f"at most {model.iterations}); its factors are kept")
    print(f"saved the model to {args.output}")
    if args.plot is not None:
        print(f"saved the loss plot to {args.plot}")
    return 0


def _applies_only_with(args, names, needed, what):
    given = [name for name in names if getattr(args, name) is not None]
    if given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise CLIError(f"{options} applies to {what}; add {needed}")


def _fit_model(model, ratings, args):
    """Fit ``model`` on ``ratings`` as the options say (here, or on a Dask cluster)."""
    if args.scheduler is not None:
        if args.validation is not None:
            raise CLIError("--validation (early stopping) is not available with --scheduler; "
                           "drop one of them")
        return _fit_on_cluster(model, ratings, args)
    if args.validation is None:
        return model.fit(ratings)
    from ..model_selection import train_test_split

    try:
        train, held = train_test_split(ratings, test_size=args.validation,
                                       random_state=args.split_seed or 0)
    except ValueError as error:
        raise CLIError(f"--validation {args.validation}: {error}") from None
    return model.fit(train, validation=held, metric=args.metric, patience=args.patience)


def _fit_on_cluster(model, ratings, args):
    try:
        from dask.distributed import Client

        from .. import distributed
    except ImportError:
        raise CLIError("--scheduler needs Dask, which is not installed: "
                       "pip install sparseals[dask]") from None
    try:
        timeout = _CONNECT_TIMEOUT if args.connect_timeout is None else args.connect_timeout
        client = Client(args.scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise CLIError(f"cannot reach the Dask scheduler at {args.scheduler}: {error}") from None
    with client:
        n_workers = len(client.nthreads())  # scheduler_info() lists at most 5 on some releases
        if n_workers == 0:  # Dask would wait for a worker for ever
            raise CLIError(f"the Dask cluster at {args.scheduler} has no workers; start some "
                           f"(dask worker {args.scheduler}) and try again")
        print(f"fitting on the Dask cluster at {args.scheduler} ({n_workers} workers)")
        return distributed.fit(model, ratings, client, blocks=args.blocks,
                               routing=args.routing or "broadcast")


_CONNECT_TIMEOUT = 30.0


def _plot_path(path):
    """The file ``--plot path`` is to write (matplotlib adds .png when there is no suffix)."""
    if not path:
        raise CLIError("--plot needs a file name, e.g. loss.png")
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise CLIError(f"--plot {path} names a directory; give a file name, e.g. "
                       f"{os.path.join(path, 'loss.png')}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"--plot {path}: the folder {directory} does not exist")
    return path if os.path.splitext(path)[1] else path + ".png"


def _check_plot_format(path):
    try:
        import matplotlib.backend_bases
    except ImportError:
        raise CLIError("--plot needs matplotlib, which is not installed: pip install matplotlib "
                       "(or pip install sparseals[plot])") from None
    formats = matplotlib.backend_bases.FigureCanvasBase.get_supported_filetypes()
    suffix = os.path.splitext(path)[1]
    if suffix[1:].lower() not in formats:
        raise CLIError(f"--plot {path}: matplotlib cannot write {suffix} files; use one of "
                       + ", ".join("." + name for name in sorted(formats)))


def _plot(model, path):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 4), layout="tight")
    axes = figure.add_subplot()
    axes.plot(_iterations(model.loss_history_), model.loss_history_, marker="o",
              label="training loss")
    axes.set_xlabel("iteration")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.set_title(f"{type(model).__name__}, {model.factors} factors")
    history = getattr(model, "validation_history_", None)
    if history:  # every iteration run; the loss history ends at the kept one
        held = axes.twinx()
        held.plot(_iterations(history), history, color="C1", marker="s",
                  label=f"held-out {model.validation_metric_}")
        held.set_ylabel(f"held-out {model.validation_metric_}")
        held.axvline(model.best_iteration_ + 1, color="C1", linestyle=":")
    figure.savefig(path)


def _iterations(history):
    return range(1, len(history) + 1)
