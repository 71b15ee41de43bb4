"""What several subcommands share: model options, reading a data file, ids, titles, output."""

import argparse
import contextlib
import json
import os
import re
import sys
import warnings

import numpy as np


class CLIError(Exception):
    """A user mistake found by the command line itself; printed as one line, exit status 2."""


# ---------------------------------------------------------------------- model options
# (parameter, option, type, help, models it applies to); every option defaults to None so
# that only the options given reach the model and each model keeps its own defaults
_BOTH = ("explicit", "implicit")
MODEL_OPTIONS = [
    ("factors", "--factors", int, "number of latent factors K (explicit 10, implicit 64)", _BOTH),
    ("regularization", "--regularization", float, "λ for both sides (explicit 0.1, implicit 0.01)",
     _BOTH),
    ("reg_users", "--reg-users", float, "λ of the users (overrides --regularization)", _BOTH),
    ("reg_items", "--reg-items", float, "λ of the items (overrides --regularization)", _BOTH),
    ("reg_exponent", "--reg-exponent", float,
     "ν: scale each row's λ by its count ** ν (1: weighted λ of ALS-WR; default 0)", _BOTH),
    ("iterations", "--iterations", int, "full alternations (default 15)", _BOTH),
    ("dtype", "--dtype", str, "float32 (default) or float64", _BOTH),
    ("random_state", "--random-state", int, "seed of the initial factors", _BOTH),
    ("num_threads", "--threads", int, "threads (default: all)", _BOTH),
    ("biases", "--biases", bool, "learn user and item biases", ("explicit",)),
    ("nonnegative", "--nonnegative", bool, "non-negative factors", ("explicit",)),
    ("alpha", "--alpha", float, "confidence scale α: c = 1 + α·r (default 1)", ("implicit",)),
    ("unobserved_weight", "--unobserved-weight", float,
     "α₀, the confidence of the cells not stored (default 1)", ("implicit",)),
    ("confidence", "--confidence", str, "linear (default; c = 1 + α·r) or raw (c = α·|r|)",
     ("implicit",)),
    ("solver", "--solver", str, "cg (default) or cholesky", ("implicit",)),
    ("cg_steps", "--cg-steps", int, "conjugate-gradient steps per row (default 3)", ("implicit",)),
]
_MODEL_CLASSES = {"explicit": "ExplicitALS", "implicit": "ImplicitALS"}


def add_model_options(parser):
    """``--model`` and one option per model parameter."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", choices=sorted(_MODEL_CLASSES), default="explicit",
                       help="explicit ratings (ExplicitALS, default) or implicit feedback "
                            "(ImplicitALS)")
    for name, option, kind, text, models in MODEL_OPTIONS:
        if len(models) == 1:
            text += f" [--model {models[0]}]"
        if kind is bool:
            group.add_argument(option, dest=name, action=argparse.BooleanOptionalAction,
                               default=None, help=text)
        else:
            group.add_argument(option, dest=name, type=kind, default=None,
                               metavar=name.upper(), help=text)
    group.add_argument("--progress", dest="show_progress", action="store_true", default=None,
                       help="show a progress bar with the loss (on stderr)")


def build_model(args):
    """A model of ``--model`` with the parameters given on the command line."""
    from .. import models

    cls = getattr(models, _MODEL_CLASSES[args.model], None)
    if cls is None:
        raise CLIError(f"--model {args.model} needs sparseals.{_MODEL_CLASSES[args.model]}, "
                       "which this version of sparseals does not have")
    params = {}
    for name, option, _, _, applies in MODEL_OPTIONS + [("show_progress", "--progress", bool,
                                                         "", _BOTH)]:
        value = getattr(args, name, None)
        if value is None:
            continue
        if args.model not in applies:
            raise CLIError(f"{option} applies to --model {applies[0]} only, not --model "
                           f"{args.model}")
        params[name] = value
    model = cls(**params)
    with options_named():  # fail before reading a large file, not after
        model._validate_params()
    return model


_OPTIONS = {name: option for name, option, *_ in MODEL_OPTIONS}
# a parameter as the model's messages name it: with a value ('regularization=1e+30'), first
# ('factors must be ...'), or anywhere when its name is no plain word ('lower reg_exponent')
_PARAMETER = re.compile(r"\b(\w+)=|^(\w+)\b|\b(regularization|\w+_\w+)\b")


@contextlib.contextmanager
def options_named(more=None):
    """Re-raise a model's ValueError (its checks up front, or those of its fit) naming the
    command line's options (``--reg-exponent 1``) instead of the parameters
    (``reg_exponent=1``); ``more`` maps other parameters to their options."""
    options = {**_OPTIONS, **(more or {})}

    def option_of(match):
        name = next(group for group in match.groups() if group is not None)
        if name not in options:
            return match.group(0)
        return options[name] + (" " if match.group(0).endswith("=") else "")

    try:
        yield
    except ValueError as error:
        message = _PARAMETER.sub(option_of, str(error))
        if message == str(error):
            raise
        raise CLIError(message) from None


# ---------------------------------------------------------------------- data
def add_data_options(parser):
    """The ratings file argument and how to read it."""
    parser.add_argument("data", metavar="DATA",
                        help="ratings file (CSV / TSV / Parquet, or a MovieLens u.data, "
                             "ratings.dat, ratings.csv or its folder)")
    group = parser.add_argument_group("data file")
    group.add_argument("--user", help="user id column: a name, or a 0-based position "
                                      "(default userId; 0 in a MovieLens u.data or "
                                      "ratings.dat)")
    group.add_argument("--item", help="item id column (default movieId; 1 in u.data)")
    group.add_argument("--rating", help="rating column (default rating; 2 in u.data); 'none': "
                                        "every pair counts 1 (implicit feedback without "
                                        "values)")
    group.add_argument("--sep", help="field separator (default: guessed from the first line); "
                                     "'\\t' for tab")
    group.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                       help="whether the first line names the columns (default: yes when a "
                            "column is given by name, no when all are positions)")
    group.add_argument("--encoding", help="text encoding of the file (default utf-8), e.g. "
                                          "latin-1")
    group.add_argument("--duplicates", choices=["error", "sum", "last", "mean"], default="error",
                       help="what to do with a (user, item) pair given twice (default error)")


def _column(value, default):
    if value is None:
        return default
    if value.lower() == "none":
        return None
    # ASCII digits only: int() reads '٣' as 3, and '²' passes isdigit() but not int()
    return int(value) if value.isascii() and value.isdigit() else value


def read_data(args, dtype):
    """The ratings named by ``args.data`` and the data options, as :class:`~sparseals.Ratings`
    of ``dtype`` (the model's: a float64 fit must not read float32-rounded values); a note
    on stderr when ``--model explicit`` is to fit what looks like implicit feedback."""
    ratings = _read_file(args, dtype)
    notice = _implicit_notice(ratings, args.model)
    if notice is not None:
        print(notice, file=sys.stderr)
    return ratings


def _read_file(args, dtype):
    from .. import _validation as v
    from ..datasets import load_movielens, read_ratings
    from ..datasets.readers import HeaderAsDataError, _movielens_layout
    from ..ratings import DuplicatePairsError

    path = args.data
    if not os.path.isdir(path):  # a folder may hold a MovieLens data set
        v.existing_file(path, "data file")
    custom = any(getattr(args, name) is not None
                 for name in ("user", "item", "rating", "sep", "header", "encoding"))
    try:
        layout = None if os.path.isdir(path) else _movielens_layout(path)[0]
        if not custom and (os.path.isdir(path) or layout is not None):
            return load_movielens(path, dtype=dtype, duplicates=args.duplicates)
        if os.path.isdir(path):
            raise CLIError(f"{path!r} is a folder; give a ratings file")
        sep = None if args.sep is None else args.sep.replace("\\t", "\t")
        # u.data and ratings.dat have no header: their columns are known by position
        default = (0, 1, 2) if layout in ("100k", "1m") else ("userId", "movieId", "rating")
        user, item = _column(args.user, default[0]), _column(args.item, default[1])
        if user is None or item is None:
            raise CLIError("--user and --item name id columns; only --rating takes 'none'")
        return read_ratings(path, user=user, item=item, rating=_column(args.rating, default[2]),
                            sep=sep, header=args.header, dtype=dtype, duplicates=args.duplicates,
                            encoding=args.encoding or "utf-8")
    except DuplicatePairsError as error:  # its message names the Python argument
        raise CLIError(f"{error.found}; pass --duplicates sum, last or mean to combine "
                       "them") from None
    except HeaderAsDataError as error:  # as are these
        raise CLIError(f"the first line of {error.path} looks like a header, not a rating: "
                       f"its {error.role} id {error.first!r} is the only one that is not a "
                       "number; pass --header to skip that line (--no-header reads it as "
                       "data)") from None
    except ValueError as error:  # 'check sep=, header=' means the options here
        raise CLIError(_option_names(str(error))) from None


_COUNT_SCALE = 100
"""Whole non-negative values past this look like counts: rating scales stop at 100."""


def _implicit_notice(ratings, model_kind):
    """A one-line note when ``--model explicit`` is to fit values that look like implicit
    feedback, else None: counts (plays: whole, non-negative, up to thousands), or one value
    for every pair (``--rating none``, a trust or friendship list), where ExplicitALS can
    only learn that constant.

    ExplicitALS fits them as ratings and says nothing; star, thumbs and percent scales
    (1–5, 0.5–4, −10..10, 0–100) stay silent.
    """
    values = ratings.by_user.data
    if model_kind != "explicit" or values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    if low == high:
        return (f"note: every value is {low:g}, so --model explicit can only learn that "
                "constant; for implicit feedback (who rated, played or follows what) use "
                "--model implicit")
    if low < 0 or high <= _COUNT_SCALE or not np.all(values == np.round(values)):
        return None
    return (f"note: the values are whole numbers from {low:,.0f} to {high:,.0f}, which look "
            "like counts (plays, clicks) rather than ratings on a scale; --model explicit "
            "fits them as ratings, for implicit feedback use --model implicit")


# the reader's advice names its arguments: 'pass sep=', 'check sep=, header=', 'header=False',
# 'pass encoding='
_ADVICE = re.compile(r"\b(sep|header|encoding)=(True|False|(?=[\s,;)]|$))")


def _option_names(message):
    """``message`` of :func:`~sparseals.datasets.read_ratings` with the options of the
    command line in its advice; a value shown (``sep=','``) is left as it is."""
    def option(match):
        name, value = match.groups()
        return "--no-header" if value == "False" else f"--{name}"

    return _ADVICE.sub(option, message)


# ---------------------------------------------------------------------- ids and titles
def position_of(ids, raw, what, option):
    """Index of the original id given as text ``raw`` in ``ids`` (a model's id map)."""
    kind = ids.dtype.kind
    value = raw
    if kind in _ID_KINDS:
        value = _parse_id(raw, ids.dtype)
        if value is None:
            one, many = _ID_KINDS[kind]
            if kind == "m":
                many = many.format(unit=_unit_name(ids.dtype))
            raise CLIError(f"{option} {raw!r} is not {one}; this model's {what} ids are {many}")
    found = np.flatnonzero(ids == value)
    if len(found) == 0:
        span = f"{ids.min()}..{ids.max()}" if kind in "iuf" else "e.g. " + ", ".join(
            repr(str(x)) for x in ids[:3])
        raise CLIError(f"{what} id {raw} is not in the model (it has {len(ids):,} {what}s, "
                       f"ids {span})")
    return int(found[0])


# id dtype kinds that are not text: what one id is, what the ids are
_ID_KINDS = {
    "i": ("an integer", "integers"), "u": ("an integer", "integers"),
    "f": ("a number", "numbers"),
    "M": ("a date", "dates (e.g. 2020-01-31 or 2020-01-31T12:00:00, without a time zone)"),
    "m": ("a duration", "durations in whole {unit} (e.g. '5 {unit}' or 5)"),
}


def _parse_id(raw, dtype):
    """The text ``raw`` as an id of ``dtype`` (a kind of ``_ID_KINDS``), or None."""
    if dtype.kind == "M":
        # no unit given: the model's unit would cut 12:30 to a day's id; a time zone makes
        # numpy warn and shift the time to UTC
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                return np.datetime64(raw)
            except (ValueError, Warning):
                return None
    if dtype.kind == "m":  # as printed: '5 seconds', or the count alone
        unit = np.datetime_data(dtype)[0]
        count, _, name = raw.partition(" ")
        count = _number(count, int)
        if count is None or name not in ("", unit, _unit_name(dtype)):
            return None
        try:
            return np.timedelta64(count, unit)
        except OverflowError:
            return None
    return _number(raw, int if dtype.kind in "iu" else float)


def _number(text, kind):
    """``kind(text)`` (int or float), or None; without the leniency of Python's parsers,
    which read '1_0' as 10 and ' 1' or '١' as 1."""
    if "_" in text or text != text.strip() or not text.isascii():
        return None
    try:
        return kind(text)
    except ValueError:
        return None


def _unit_name(dtype):
    """'seconds' for a timedelta64[s] dtype: the unit as numpy prints a duration."""
    return str(np.timedelta64(2, np.datetime_data(dtype)[0])).split()[1]


def load_titles(path):
    """Movie titles by id from a MovieLens u.item / movies.dat / movies.csv, or None."""
    if path is None:
        return None
    from ..datasets import load_movielens_titles

    return load_movielens_titles(path)


def check_titles(titles, item_ids, path):
    """Raise when no item of the model has a title in ``titles`` (a titles file of another
    data set), and note on stderr how many have none when only some do."""
    if titles is None:
        return
    if item_ids.dtype.kind in "iu":  # vectorised: a model may have millions of items
        limits = np.iinfo(item_ids.dtype)
        known = np.fromiter((t for t in titles if limits.min <= t <= limits.max),
                            dtype=item_ids.dtype)
        missing = int(np.count_nonzero(~np.isin(item_ids, known)))
    else:
        missing = sum(title_of(titles, item_id) is None for item_id in item_ids)
    if missing == len(item_ids):
        raise CLIError(f"--titles {path}: none of the model's {len(item_ids):,} item ids has a "
                       f"title there (its {len(titles):,} titles are for other ids); give the "
                       "titles file of the data set the model was fitted on")
    if missing:
        print(f"note: --titles {path}: {missing:,} of the model's {len(item_ids):,} items "
              "have no title there", file=sys.stderr)


def title_of(titles, item_id):
    """The MovieLens title of an integer item id ('03' or 1.5 are other items)."""
    if titles is None or not isinstance(plain(item_id), int) or isinstance(item_id, bool):
        return None
    return titles.get(plain(item_id))


def plain(value):
    """A numpy scalar as the Python value JSON and printing expect."""
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return str(value)  # as --user / --item read it back (.item() may give a datetime)
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------- output
def print_table(header, rows, exact=()):
    """Columns aligned: text left, numbers right (no header row when ``header`` is None);
    floats to 4 decimals, but in full in the columns numbered in ``exact`` (ids, which must
    read back)."""
    width = len(header) if header is not None else len(rows[0])
    cells = ([] if header is None else [[str(c) for c in header]]) + [
        [_cell(c, i in exact) for i, c in enumerate(row)] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(width)]
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(width)]
    for row in cells:
        print("  ".join(c.rjust(w) if numeric[i] else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())


def _cell(value, exact):
    value = plain(value)
    if isinstance(value, float):
        return repr(value) if exact else f"{value:.4f}"  # repr: the shortest that reads back
    return "" if value is None else str(value)


def _is_number(value):
    value = plain(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def print_json(data):
    print(json.dumps(data, indent=2, default=plain))
