"""Ratings files: delimited text (CSV / TSV / ``::``) and Parquet, read in chunks.

A file is read a chunk of rows at a time; each chunk's ids are encoded to integer
codes at once (:class:`_IdEncoder`) and only the codes, values and (optionally)
timestamps are kept, so a multi-GB file never exists twice in memory. The codes are
renumbered into sorted id order at the end and the :class:`~sparseals.Ratings`
is built once. pandas is imported only for text files and pyarrow only for Parquet.
"""

import bz2
import codecs
import csv
import decimal
import gzip
import lzma
import numbers
import os
import re
import zlib
from contextlib import contextmanager

import numpy as np

import scipy.sparse as sp

from .. import _validation as v
from ..ratings import (Compressed, DuplicatePairsError, Ratings, _indptr_dtype,
                       _row_major_latest, _transpose)

__all__ = ["read_ratings", "load_movielens", "load_movielens_titles"]

_COMPRESSIONS = {"gzip": (b"\x1f\x8b", gzip.open), "bz2": (b"BZh", bz2.open),
                 "xz": (b"\xfd7zXZ\x00", lzma.open)}
_PARQUET_MAGIC = b"PAR1"
_NOT_TEXT = {b"PK\x03\x04": "a zip archive; unzip it first",
             b"\x28\xb5\x2f\xfd": "zstd-compressed; decompress it first",
             _PARQUET_MAGIC: "a Parquet file; pass format='parquet'"}
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_SNIFFED = ("::", "\t", ",", ";", "|", " ")
_PARQUET = (".parquet", ".pq")


def read_ratings(path, user="userId", item="movieId", rating="rating", *, timestamp=None,
                 sep=None, header=None, format=None, dtype="float32", duplicates="error",
                 encoding="utf-8", chunksize=250_000):
    """Read a ratings file (CSV, TSV, any delimited text, or Parquet) into :class:`Ratings`.

    Only the named columns are read, ``chunksize`` rows at a time; user and item ids
    may be anything (numbers or text) and are kept in ``user_ids`` / ``item_ids``
    in sorted order, as :meth:`Ratings.from_dataframe` does.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The file. Parquet (needs ``pyarrow``) is recognised by a ``.parquet`` / ``.pq``
        name or by its first bytes; anything else is delimited text, optionally gzip,
        bz2 or xz compressed (recognised by the file's first bytes, whatever its name).
    user, item, rating : str or int
        Column names (read from the header row) or 0-based column positions.
        ``rating=None`` gives every pair the value 1 (implicit feedback without counts).
        An id column whose every id is a number holds numbers (``'007'`` and ``'7'``
        are then one id); one with any other id is read as text, as written (less the
        spaces around it in a text file, as for the header's names). Only an empty field
        is a missing value.
    timestamp : str or int, optional
        A timestamp column (integers, or Parquet timestamps, taken as Unix seconds);
        when given, the timestamps are returned too.
    sep : str, optional
        Field separator of a text file; by default guessed from the first line
        (``'::'``, tab, ``','``, ``';'``, ``'|'`` or spaces).
    header : bool, optional
        Whether a text file starts with a header row. Default: True when any column
        is given by name, False when all are positions; then a first line whose ids
        are the only ones that are not numbers (``userID  artistID``) is taken for a
        header and raises :class:`~sparseals.datasets.readers.HeaderAsDataError`
        instead of becoming a rating.
    format : {'csv', 'parquet'}, optional
        Overrides the guess from the file's name and first bytes.
    dtype : {'float32', 'float64'}
        Storage type of the values.
    duplicates : {'error', 'sum', 'last', 'mean'}
        What to do with a (user, item) pair given more than once:
        ``'error'`` raises :class:`~sparseals.ratings.DuplicatePairsError` (a ValueError).
    encoding : str
        Text encoding (e.g. ``'latin-1'``). With UTF-8, a byte-order mark (as Excel
        writes) is skipped, and one of UTF-16 or UTF-32 switches to that encoding.
    chunksize : int
        Rows read at a time.

    Returns
    -------
    ratings : Ratings
    timestamps : ndarray of int64, only when ``timestamp`` is given
        One per stored rating, aligned with ``ratings.by_user`` (row-major order);
        a pair merged from duplicates gets its latest timestamp.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is empty, lacks a column, holds ids that are missing or mix numbers
        and text, or values that are not finite numbers; ``encoding`` is unknown;
        its first line looks like a header that ``header`` did not announce
        (:class:`~sparseals.datasets.readers.HeaderAsDataError`).
    TypeError
        The rating column holds booleans, dates, durations or other things that are not
        numbers.

    Notes
    -----
    An error about one rating of a text file names its line, counted from 1 as an editor
    counts them (the header and blank lines too); in a Parquet file, its row from 0.

    Examples
    --------
    >>> r = read_ratings("ratings.csv")  # doctest: +SKIP
    >>> r, ts = read_ratings("u.data", user=0, item=1, rating=2, timestamp=3)  # doctest: +SKIP
    """
    path = _path(path)
    v.existing_file(path, "ratings file")
    dtype = v.float_dtype(dtype)
    v.one_of(duplicates, "duplicates", {"error", "sum", "last", "mean"})
    chunksize = v.positive_int(chunksize, "chunksize")
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"encoding {encoding!r} is not a text encoding Python knows; give one "
                         "such as 'utf-8' or 'latin-1'") from None
    if user is None or item is None:
        raise ValueError("user and item name the id columns (a name or a position); only "
                         "rating and timestamp may be None")
    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    columns = {role: c for role, c in columns.items() if c is not None}
    for role, column in columns.items():
        if isinstance(column, bool) or not isinstance(column, (str, int, np.integer)) or (
                not isinstance(column, str) and column < 0):
            raise ValueError(f"{role} must be a column name or a non-negative column position; "
                             f"got {column!r}")
    if format is None:
        format = "parquet" if path.lower().endswith(_PARQUET) or _is_parquet(path) else "csv"
    v.one_of(format, "format", {"csv", "parquet"})
    # no header by default when all columns are positions: the first line may be one
    guessed_header = (format == "csv" and header is None
                      and not any(isinstance(c, str) for c in columns.values()))
    if format == "csv":
        locate = _Lines(path, encoding, header if header is not None else not guessed_header)
    else:
        locate = _parquet_row
    text_ids = set()  # id columns to read as text, as written
    whole_sep = False  # '::' split at ':' (8× faster), until a ':' turns up inside a field
    while True:
        if format == "parquet":
            chunks = _parquet_chunks(path, columns, chunksize)
        else:
            chunks = _text_chunks(path, columns, sep, header, encoding, chunksize, locate,
                                  text_ids, whole_sep)
        try:
            return _assemble(chunks, columns, dtype, duplicates, path, format == "csv",
                             locate, guessed_header)
        except _SeparatorInField:
            whole_sep = True
        except _NumbersAndText as mixed:
            # pandas types each chunk's column apart: numbers in some chunks, text in
            # others. Read the column again as text throughout, so that the answer does
            # not depend on where the chunks fall ('007' stays '007' beside '7').
            if format == "parquet" or mixed.role in text_ids:
                raise ValueError(str(mixed)) from None
            text_ids.add(mixed.role)


# ---------------------------------------------------------------------- MovieLens
_ML_LAYOUTS = {
    # name: (description, first data line pattern, example line)
    "100k": ("100K (u.data: user<TAB>item<TAB>rating<TAB>timestamp, no header)",
             re.compile(r"^\d+\t\d+\t\d+(\.\d+)?\t\d+$"), "196\t242\t3\t881250949"),
    "1m": ("1M / 10M (ratings.dat: user::item::rating::timestamp, no header)",
           re.compile(r"^\d+::\d+::\d+(\.\d+)?::\d+$"), "1::1193::5::978300760"),
    "csv": ("latest / 20M / 25M (ratings.csv: header userId,movieId,rating,timestamp)",
            re.compile(r"^\d+,\d+,\d+(\.\d+)?,\d+$"), "1,1,4.0,964982703"),
}
_ML_HEADER = "userId,movieId,rating,timestamp"
_ML_FILES = ("u.data", "ratings.dat", "ratings.csv")


def load_movielens(path, return_timestamps=False, dtype="float32", download=False,
                   cache_dir=None, duplicates="error"):
    """Load a MovieLens ratings file in any of its published layouts, keeping original ids.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A MovieLens folder (holding ``u.data``, ``ratings.dat`` or ``ratings.csv``) or
        one of those files; ``u1.base`` / ``u1.test`` style split files of the 100K
        set work too.
    return_timestamps : bool
        Also return the rating times (for :func:`sparseals.model_selection.split_by_time`).
    dtype : {'float32', 'float64'}
    download : bool
        Treat ``path`` as a data set name (``'ml-100k'``, ``'ml-latest-small'``) and
        load it from the cache folder, downloading and verifying it first if needed
        (see :func:`~sparseals.datasets.fetch_movielens`).
    cache_dir : str or os.PathLike, optional
        With ``download``: the cache folder.
    duplicates : {'error', 'sum', 'last', 'mean'}
        A (user, item) pair given twice (never in the published files), as in
        :func:`read_ratings`.

    Returns
    -------
    ratings : Ratings
        ``user_ids`` / ``item_ids`` hold the MovieLens user and movie ids.
    timestamps : ndarray of int64, with ``return_timestamps``
        Unix seconds, aligned with ``ratings.by_user``.

    Raises
    ------
    ValueError
        The file is not in the layout its name claims (or in none of them).

    Examples
    --------
    >>> r = load_movielens("../shared/data/ml-100k")  # doctest: +SKIP
    >>> r.shape, r.nnz  # doctest: +SKIP
    ((943, 1682), 100000)
    >>> r = load_movielens("ml-100k", download=True)  # doctest: +SKIP
    """
    if download:
        from .download import fetch_movielens

        path = fetch_movielens(path, cache_dir)
    elif cache_dir is not None:
        raise ValueError("cache_dir applies with download=True only")
    path = _movielens_file(_path(path))
    layout, problem = _movielens_layout(path)
    if problem is not None:
        raise ValueError(problem)
    description = _ML_LAYOUTS[layout][0]
    if layout == "1m":  # '::' as ':' with the empty fields skipped keeps pandas' fast parser
        columns = dict(sep=":", user=0, item=2, rating=4, timestamp=6)
    elif layout == "100k":
        columns = dict(sep="\t", user=0, item=1, rating=2, timestamp=3)
    else:
        columns = dict(sep=",", user="userId", item="movieId", rating="rating",
                       timestamp="timestamp")
    try:
        ratings, timestamps = read_ratings(path, dtype=dtype, header=layout == "csv",
                                           format="csv", encoding="utf-8",
                                           duplicates=duplicates, **columns)
    except DuplicatePairsError:
        raise  # the layout is right; the caller may combine the pairs
    except ValueError as error:
        raise ValueError(f"{path} is not a valid MovieLens {description} file: {error}") from None
    return (ratings, timestamps) if return_timestamps else ratings


def _movielens_layout(path):
    """``(layout, None)`` for a MovieLens ratings file, else ``(None, why it is not one)``."""
    name = os.path.basename(path).lower()
    try:
        (first, second), _ = _first_lines(path, 2, "utf-8")  # a BOM is recognised
    except ValueError as error:  # empty, or not text (a Parquet file given to the CLI)
        return None, str(error)
    if re.match(r"^u[a-z0-9]*\.(data|base|test)$", name):
        layout = "100k"
    elif name.endswith(".dat"):
        layout = "1m"
    elif name.endswith(".csv"):
        layout = "csv"
    else:  # unknown name: recognise the content
        line = second if first == _ML_HEADER else first
        layout = next((k for k, (_, pattern, _) in _ML_LAYOUTS.items()
                       if pattern.match(line or "")), None)
        if layout is None:
            return None, (f"{path} is not a MovieLens ratings file: its first line is "
                          f"{first!r}; expected one of the layouts " + "; ".join(
                              d for d, _, _ in _ML_LAYOUTS.values()))
    description, pattern, example = _ML_LAYOUTS[layout]
    line = first
    if layout == "csv":
        if first != _ML_HEADER:
            return None, (f"{path} is not a MovieLens {description} file: its header is "
                          f"{first!r}, expected {_ML_HEADER!r}")
        line = second
    if line is None or not pattern.match(line):
        return None, (f"{path} is not a MovieLens {description} file: expected lines like "
                      f"{example!r}, found {line!r}")
    return layout, None


def load_movielens_titles(path):
    """Movie titles of a MovieLens data set, by movie id.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A MovieLens folder, or its ``u.item`` (100K, ``|``-separated, latin-1),
        ``movies.dat`` (1M / 10M, ``::``-separated) or ``movies.csv`` (latest / 20M / 25M).

    Returns
    -------
    dict of int to str

    Examples
    --------
    >>> load_movielens_titles("../shared/data/ml-100k")[1]  # doctest: +SKIP
    'Toy Story (1995)'
    """
    path = _path(path)
    if os.path.isdir(path):
        found = [os.path.join(path, f) for f in ("u.item", "movies.dat", "movies.csv")
                 if os.path.isfile(os.path.join(path, f))]
        if not found:
            raise FileNotFoundError(f"no u.item, movies.dat or movies.csv in {path!r}")
        path = found[0]
    else:
        v.existing_file(path, "movie titles file")
    name = os.path.basename(path).lower()
    if name.endswith(".csv"):
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                head = next(reader, None)
                if not head or head[:2] != ["movieId", "title"]:
                    raise ValueError(f"{path} is not a MovieLens movies.csv: its header is "
                                     f"{head!r}, expected 'movieId,title,genres'")
                return _titles(_csv_rows(reader), path)
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not UTF-8 text, as MovieLens' movies.csv is: "
                             f"{error}") from None
    sep = "|" if name.endswith(".item") else "::"
    # u.item and 1M's movies.dat are latin-1, 10M's movies.dat is UTF-8; a byte-order
    # mark says UTF-8 (and latin-1 would read it as part of the first movie id)
    with open(path, "rb") as f:
        marked = f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    for encoding in ("utf-8-sig", "latin-1") if marked or sep == "::" else ("latin-1",):
        try:
            with open(path, encoding=encoding) as f:
                rows = ((line, raw.rstrip("\r\n").split(sep))
                        for line, raw in enumerate(f, start=1) if raw.strip())
                return _titles(rows, path)
        except UnicodeDecodeError:
            continue


def _csv_rows(reader):
    """(line where it starts, fields) of each non-blank row of a csv reader: a quoted title
    may span lines, so rows and lines are counted apart."""
    start = reader.line_num + 1
    for row in reader:
        if row:
            yield start, row
        start = reader.line_num + 1


def _titles(rows, path):
    titles = {}
    for line, fields in rows:
        if len(fields) < 2 or not fields[0].strip().isdigit():
            raise ValueError(f"{path}, line {line}: expected 'movie id, title, ...'; "
                             f"found {fields!r}")
        titles[int(fields[0])] = fields[1]
    if not titles:
        raise ValueError(f"{path} holds no movie titles")
    return titles


def _is_parquet(path):
    """Whether the file starts as Parquet files do, whatever its name."""
    with open(path, "rb") as f:
        return f.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC


def _path(path):
    """A file or folder path (str, bytes or os.PathLike) as str."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(f"path must be a str, bytes or os.PathLike; got {path!r}") from None


def _movielens_file(path):
    if os.path.isdir(path):
        for name in _ML_FILES:
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise FileNotFoundError(f"no MovieLens ratings file ({', '.join(_ML_FILES)}) in {path!r}")
    v.existing_file(path, "MovieLens file")
    return path


# ---------------------------------------------------------------------- text and Parquet
def _text_format(path, encoding):
    """(compression for pandas or None, encoding) of a delimited text file, from its bytes.

    Compression is recognised by its magic number whatever the file's name; a byte-order
    mark (Excel writes one) replaces a UTF-8 ``encoding``. Bytes that are not text (an
    archive, Parquet, NUL bytes) are a clear error here rather than garbled column names
    later.
    """
    with open(path, "rb") as f:
        magic = f.read(8)
    compression = next((name for name, (start, _) in _COMPRESSIONS.items()
                        if magic.startswith(start)), None)
    opener = _COMPRESSIONS[compression][1] if compression else open
    with _stream_errors(path, compression), opener(path, "rb") as f:
        head = f.read(4096)
    for magic, what in _NOT_TEXT.items():
        if head.startswith(magic):
            raise ValueError(f"{path} is not delimited text: it is {what}")
    if head[257:263] in (b"ustar\x00", b"ustar "):  # POSIX and GNU tar headers
        raise ValueError(f"{path} is not delimited text: it is a tar archive"
                         + (f" ({compression})" if compression else "") + "; extract it first")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = next((name for bom, name in _BOMS if head.startswith(bom)), encoding)
    if b"\x00" in head and not encoding.lower().startswith(("utf-16", "utf-32")):
        raise ValueError(f"{path} is not delimited text in {encoding}: its first bytes hold NUL "
                         "characters (a binary file, or pass the right encoding=)")
    return compression, encoding


def _first_lines(path, count, encoding, text_format=None):
    """The first ``count`` non-empty lines (None past the end), without line endings,
    and the number of blank lines before the first. ``text_format``:
    :func:`_text_format`'s answer, when the caller has it."""
    compression, encoding = text_format or _text_format(path, encoding)
    opener = _COMPRESSIONS[compression][1] if compression else open
    lines = []
    blank = 0
    with _stream_errors(path, compression), \
            opener(path, "rt", encoding=encoding, errors="replace", newline="") as f:
        for raw in f:
            raw = raw.rstrip("\r\n")
            if raw.strip():
                lines.append(raw)
                if len(lines) == count:
                    break
            elif not lines:
                blank += 1
    if not lines:
        raise ValueError(f"{path} is empty")
    return lines + [None] * (count - len(lines)), blank


_STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)


@contextmanager
def _stream_errors(path, compression):
    """A truncated or corrupt gzip, bz2 or xz stream as a ValueError naming the file."""
    try:
        yield
    except _STREAM_ERRORS as error:
        if compression is None:
            raise
        raise _stream_error(path, compression, error) from None


def _stream_error(path, compression, error):
    return ValueError(f"could not read {path}: its {compression} stream is truncated or "
                      f"corrupt ({error})")


def _split(line, sep):
    """The fields of a header line, quotes honoured as pandas honours them."""
    if sep == r"\s+":
        fields = line.split()
    elif len(sep) == 1:
        fields = next(csv.reader([line], delimiter=sep))
    else:
        fields = line.split(sep)
    return [f.strip().strip('"').strip("'") for f in fields]


def _data_not_header(fields):
    """Advice when the 'header' is all numbers: a file without one, read by names."""
    if not all(_NUMBER.fullmatch(f) for f in fields):
        return ""
    return (", numbers, as in a line of data: if the file has no header, give all the "
            "columns by position (0, 1, …)")


class _SeparatorInField(ValueError):
    """A file read by splitting a repeated-character separator ('::') at one character
    has that character inside a field: it must be read with the separator itself."""


def _text_chunks(path, columns, sep, header, encoding, chunksize, locate, text_ids=(),
                 whole_sep=False):
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the test extras
        raise ImportError("reading delimited text files needs pandas: pip install pandas "
                          "(or pip install sparseals[pandas])") from None
    compression, encoding = _text_format(path, encoding)
    (first,), blank = _first_lines(path, 1, encoding, (compression, encoding))
    if sep is None:
        sep = next((s for s in _SNIFFED if s in first), None)
        if sep is None:
            raise ValueError(f"cannot guess the separator of {path} from its first line "
                             f"{first!r}; pass sep=")
    if sep == " ":
        sep = r"\s+"
    if header is None:
        header = any(isinstance(c, str) for c in columns.values())
    if not isinstance(header, bool):
        raise ValueError(f"header must be True, False or None; got {header!r}")
    fields = _split(first, sep)
    wanted = {}
    for role, column in columns.items():
        if isinstance(column, str):
            if not header:
                raise ValueError(f"{role} column {column!r} is a name, but header=False; give "
                                 "column positions (0, 1, …) for a file without a header row")
            if column not in fields:
                raise ValueError(f"{role} column {column!r} is not in the header of {path} "
                                 f"(sep={sep!r}); its columns are {fields}"
                                 + _data_not_header(fields))
            if fields.count(column) > 1:
                raise ValueError(f"{role} column {column!r} names {fields.count(column)} columns "
                                 f"of the header of {path}; give its position instead")
            wanted[role] = fields.index(column)
        else:
            if int(column) >= len(fields):
                raise ValueError(f"{role} column position {column} is out of range: the first "
                                 f"line of {path} has {len(fields)} fields with sep={sep!r}")
            wanted[role] = int(column)
    engine, parse_sep, usecols, gaps = "c", sep, sorted(set(wanted.values())), None
    if len(sep) > 1 and sep != r"\s+":
        if (not whole_sep and set(sep) == {sep[0]}
                and first.count(sep[0]) == len(sep) * first.count(sep)):
            # '::' (MovieLens 1M / 10M): pandas' C parser takes one-character separators
            # only, so split at ':' and check that the fields between stay empty; 8×
            # faster than its Python parser
            parse_sep, stride = sep[0], len(sep)
            wanted = {role: pos * stride for role, pos in wanted.items()}
            usecols = None
            width = stride * (len(fields) - 1) + 1
            gaps = [c for c in range(width) if c % stride]
        else:
            engine = "python"
    if usecols is not None and len(fields) <= _WHOLE_LINE_FIELDS:
        usecols = None  # every field parsed: pandas raises for a line with more fields
    # 'u1, a' names item 'a', as the header's names are stripped
    spaced = sep != r"\s+"
    # only an empty field is missing: an id 'NA', 'null' or 'None' is an id
    options = dict(keep_default_na=False, na_values=[""], skipinitialspace=spaced)
    # lines before the stream pandas reads (it numbers lines from 1, blank ones too)
    skip = blank + 1 if header else 0
    try:
        if usecols is not None:  # a wide file: its first lines are checked
            with _data_lines(path, compression, encoding, header) as lines:
                _check_field_counts(pd, lines, parse_sep, locate, engine, len(fields), options)
        with _data_lines(path, compression, encoding, header) as stream, pd.read_csv(
                stream, sep=parse_sep, header=None, usecols=usecols, chunksize=chunksize,
                engine=engine, skip_blank_lines=True, **options,
                dtype={wanted[role]: str for role in text_ids} or None) as reader:
            for frame in reader:
                if gaps is not None:
                    if frame.shape[1] < width:  # pandas counts the fields of the first row
                        raise ValueError(f"{locate(0)}, the first data line, has fewer than "
                                         f"the {len(fields)} fields of the first line")
                    # a ':' inside a field shifts what follows into a gap, or, on the first
                    # data line (which sizes the frame), past the last field
                    if frame.shape[1] > width or frame[gaps].notna().to_numpy().any():
                        raise _SeparatorInField()
                elif usecols is None:  # parsed whole: pandas counts the first data line
                    if frame.shape[1] > len(fields):
                        raise ValueError(_more_fields(locate, frame.shape[1], len(fields),
                                                      sep))
                    missing = [role for role, pos in wanted.items() if pos >= frame.shape[1]]
                    if missing:
                        raise ValueError(f"{locate(0)}, the first data line, has "
                                         f"{frame.shape[1]} fields, fewer than the "
                                         f"{len(fields)} of the first line: no {missing[0]} "
                                         "column")
                yield {role: _text_column(pd, frame[pos]) if role in ("user", "item")
                       else frame[pos].to_numpy() for role, pos in wanted.items()}
    except pd.errors.EmptyDataError:  # a header and nothing else
        return
    except _SeparatorInField:
        raise
    except _STREAM_ERRORS as error:  # gzip, bz2 and xz streams
        if compression is None:
            raise
        raise _stream_error(path, compression, error) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip()
        found = re.search(r"Expected (\d+) fields in line (\d+)", reason)
        line = found and int(found[2]) + skip  # pandas numbers the lines of its stream
        if gaps is not None and line:  # more fields split at one character: maybe one
            raise _SeparatorInField() from None  # inside a field, so read with the whole sep
        if line and int(found[1]) < len(fields):  # pandas expects the first data line's count
            reason = (f"{locate(0)}, the first data line, has {found[1]} fields, fewer than "
                      f"the {len(fields)} of the first line")
        elif line:
            reason = (f"line {line} has more fields than the first line; check sep= (a "
                      f"decimal comma in a file separated by {sep!r}?)")
        if isinstance(error, UnicodeDecodeError):
            # the codec's position is within a buffer pandas read, not within the file
            reason = (_undecodable(path, compression, encoding) or reason) + (
                f"; it is not {encoding} text: pass encoding= (e.g. 'latin-1')")
        raise ValueError(f"could not read {path} as delimited text with sep={sep!r}: "
                         f"{reason}") from None


def _undecodable(path, compression, encoding):
    """'line 12: invalid continuation byte (0xe9)': the first bytes of the file that are
    not ``encoding``, by line (None if it decodes after all)."""
    opener = _COMPRESSIONS[compression][1] if compression else open
    decoder = codecs.getincrementaldecoder(encoding)()
    breaks = 0
    with opener(path, "rb") as f:
        for piece in f:  # split at b'\n', so a CRLF is never cut in two
            try:
                breaks += _line_breaks(decoder.decode(piece))
            except UnicodeDecodeError as error:
                before = error.object[:error.start].decode(encoding, errors="replace")
                bad = error.object[error.start:error.end]
                return (f"line {breaks + _line_breaks(before) + 1}: {error.reason} "
                        f"({' '.join(f'0x{b:02x}' for b in bad)})")
    return None


def _line_breaks(text):
    """Line ends as Python's and pandas' readers count them: CR LF, CR or LF."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _parquet_row(row):
    return f"row {row}"


class _Lines:
    """Names a data row (0-based, as pandas counts them) by its 1-based line in the file,
    for error messages: blank lines and the header count, as an editor counts them.

    The file is read again up to that line, which costs nothing until an error needs it.
    A field quoted across lines is one row but several lines; rows past such a field are
    named by their number instead.
    """

    def __init__(self, path, encoding, header):
        self.path, self.encoding, self.header = path, encoding, bool(header)

    def __call__(self, row):
        compression, encoding = _text_format(self.path, self.encoding)
        opener = _COMPRESSIONS[compression][1] if compression else open
        data = -1 - int(self.header)
        with _stream_errors(self.path, compression), opener(
                self.path, "rt", encoding=encoding, errors="replace", newline="") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    data += 1
                    if data == row:
                        return f"line {number}"
                if line.count('"') % 2:  # a quoted field goes on: rows and lines part
                    break
        return f"data row {row + 1} (counted from 1{' after the header' * self.header})"


def _text_column(pd, column):
    """An id column: numbers as an array, text hashed into :class:`_Text`."""
    if not pd.api.types.is_string_dtype(column.dtype):
        return column.to_numpy()
    codes, uniques = pd.factorize(column)
    return _Text(codes, uniques)


_WHOLE_LINE_FIELDS = 8
"""Files whose first line has at most this many fields are parsed whole, every column
(about 4 % slower than the wanted columns alone on a 4-field MovieLens-like CSV)."""
_CHECKED_LINES = 10_000


def _data_lines(path, compression, encoding, header):
    """The file as text from its first data line: the blank lines before the header and
    the header are read here. pandas' ``skiprows`` counts blank lines one way in files
    with LF line ends and another in files with CR alone (two blank lines as one)."""
    opener = _COMPRESSIONS[compression][1] if compression else open
    stream = opener(path, "rt", encoding=encoding, newline="")
    if header:
        for line in stream:
            if line.strip():
                break
    return stream


def _check_field_counts(pd, lines, sep, locate, engine, n_fields, options):
    """Raise if one of the first data lines has more fields than the first line.

    Reading only some columns, pandas drops a line's extra fields without a word: a
    decimal comma in a comma-separated file (``1,10,4,5``) would read as rating 4.
    Narrow files are parsed whole, where pandas raises for any longer line; a wider one
    (its other columns may be long text) has its first ``_CHECKED_LINES`` lines checked
    here, and a longer line past them goes unnoticed.
    """
    head = pd.read_csv(lines, sep=sep, header=None, nrows=_CHECKED_LINES, engine=engine,
                       skip_blank_lines=True, **options)
    if head.shape[1] > n_fields:
        raise ValueError(_more_fields(locate, head.shape[1], n_fields, sep))


def _more_fields(locate, found, n_fields, sep):
    """pandas sizes a frame by its first data line: that line is the longer one."""
    return (f"{locate(0)} has more fields than the first line ({found}, not "
            f"{n_fields}); check sep= (a decimal comma in a file separated by {sep!r}?)")


def _parquet_chunks(path, columns, chunksize):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading Parquet files needs pyarrow: pip install pyarrow "
                          "(or pip install sparseals[parquet])") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises its own ArrowInvalid for a non-Parquet file
        raise ValueError(f"{path} is not a readable Parquet file: {error}") from None
    names = parquet.schema_arrow.names
    wanted = {}
    for role, column in columns.items():
        if isinstance(column, str):
            if column not in names:
                raise ValueError(f"{role} column {column!r} is not in {path}; its columns are "
                                 f"{names}")
            wanted[role] = column
        else:
            if int(column) >= len(names):
                raise ValueError(f"{role} column position {column} is out of range: {path} has "
                                 f"{len(names)} columns {names}")
            wanted[role] = names[int(column)]
    read = sorted(set(wanted.values()))
    offset = 0
    for batch in parquet.iter_batches(batch_size=chunksize, columns=read):
        if "rating" in wanted:  # a null would be a NaN after to_numpy
            _no_nulls(batch.column(read.index(wanted["rating"])), columns["rating"], offset)
        yield {role: _parquet_column(batch.column(read.index(name)), role in ("user", "item"))
               for role, name in wanted.items()}
        offset += batch.num_rows


def _no_nulls(column, name, offset):
    """Raise for a null in a column of numbers (other types are refused as such later)."""
    import pyarrow as pa

    numbers = (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
               or pa.types.is_decimal(column.type))
    if numbers and column.null_count:
        first = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
        raise ValueError(f"rating column {name!r} has no value in row {offset + first} (a "
                         "null); fill it or drop the row")


def _parquet_column(column, ids):
    """A column as an array; ids held as text hashed into :class:`_Text`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if ids and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        encoded = column.dictionary_encode()
        return _Text(pc.fill_null(encoded.indices, -1).to_numpy(),
                     encoded.dictionary.to_numpy(zero_copy_only=False))
    return column.to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------------- assembly
class _NumbersAndText(ValueError):
    """An id column read as numbers in some chunks and as text in others."""

    def __init__(self, message, role):
        super().__init__(message)
        self.role = role


class _Text:
    """A chunk of text ids as ``codes`` (-1: missing) into its distinct ``uniques``.

    pandas and pyarrow hash their own string arrays: Python strings are then made once
    per distinct id of a chunk, not once per row.
    """

    def __init__(self, codes, uniques):
        self.codes = codes
        self.uniques = np.asarray(uniques, dtype=object)

    def __len__(self):
        return len(self.codes)


class _IdEncoder:
    """Incremental id → code map: codes in order of first appearance, sorted at the end.

    Non-negative integer ids below ``4 × rows read + 2¹⁶`` (MovieLens, Netflix and
    most exported ids) are looked up in a table indexed by the id, one gather per
    chunk; other numbers keep a sorted array of the distinct ids seen, which costs a
    sort of every chunk (4× slower on 10M MovieLens-like rows), until enough rows are
    read for a table, which thus stays within a few times the size of the codes kept
    (a 3-row file with id 2²⁴ - 1 filled 64 MB). Text ids are hashed (a dict): sorting
    Python strings chunk by chunk took 10× longer than the parsing.
    """

    _TABLE_SLACK = 1 << 16

    def __init__(self, role, column, locate, strip=False):
        self.role = role
        self.locate = locate  # a data row's place in the words of the file ('line 12')
        self.strip = strip  # text ids lose the spaces around them
        self.name = f"{role} column {column!r}"
        self.ids = None  # the distinct ids seen, sorted
        self.codes = None  # code of each of them
        self.kind = None
        self.table = None  # code of each id (-1: not seen), while the ids allow one
        self.distinct = 0  # distinct ids in the table
        self.low = self.high = None  # smallest and largest integer id seen
        self.seen = {}  # text id → code
        self.rows = 0  # rows encoded

    def encode(self, ids, offset):
        ids = self._normalise(ids, offset)
        self.rows += len(ids)
        if self.kind == "O":
            missing = ids.codes < 0
            if missing.any():
                raise ValueError(f"{self.name} has missing ids (first at "
                                 f"{self.locate(offset + int(np.argmax(missing)))})")
            seen = self.seen
            codes = np.fromiter((seen.setdefault(x, len(seen)) for x in ids.uniques), np.int32,
                                len(ids.uniques))
            return codes[ids.codes]
        if self.kind == "i":
            low, high = int(ids.min()), int(ids.max())
            self.low = low if self.low is None else min(low, self.low)
            self.high = high if self.high is None else max(high, self.high)
            if self.low >= 0 and self.high < 4 * self.rows + self._TABLE_SLACK:
                return self._encode_by_table(ids, self.high)
            self._leave_table()
            if self.ids is not None:
                ids = self._one_integer_type(ids)
        unique, inverse = np.unique(ids, return_inverse=True)
        if self.ids is None:
            self.ids = unique
            self.codes = np.arange(len(unique), dtype=np.int64)
            codes = self.codes
        else:
            pos = np.searchsorted(self.ids, unique)
            clipped = np.minimum(pos, len(self.ids) - 1)
            found = (pos < len(self.ids)) & (self.ids[clipped] == unique)
            codes = np.empty(len(unique), dtype=np.int64)
            codes[found] = self.codes[clipped[found]]
            new = ~found
            codes[new] = len(self.ids) + np.arange(int(new.sum()))
            # unique is sorted, so inserting at the search positions keeps self.ids sorted
            self.ids = np.insert(self.ids, pos[new], unique[new])
            self.codes = np.insert(self.codes, pos[new], codes[new])
        return codes[inverse.ravel()].astype(np.int32)

    def _encode_by_table(self, ids, high):
        if self.table is None or high >= len(self.table):
            size = high + 1 if self.table is None else max(high + 1, 2 * len(self.table))
            grown = np.full(size, -1, dtype=np.int32)
            if self.table is not None:
                grown[:len(self.table)] = self.table
            elif self.ids is not None:  # back from the sorted arrays, now that rows allow
                grown[self.ids] = self.codes
                self.distinct = len(self.ids)
                self.ids = self.codes = None
            self.table = grown
        codes = self.table[ids]
        new = codes < 0
        if new.any():
            fresh = np.unique(ids[new])
            self.table[fresh] = np.arange(self.distinct, self.distinct + len(fresh),
                                          dtype=np.int32)
            self.distinct += len(fresh)
            codes = self.table[ids]
        return codes

    def _leave_table(self):
        """Move the table's ids to the sorted arrays."""
        if self.table is None:
            return
        self.ids = np.flatnonzero(self.table >= 0)
        self.codes = self.table[self.ids].astype(np.int64)
        self.table = None

    def _normalise(self, ids, offset):
        if not isinstance(ids, _Text):
            ids = np.asarray(ids)
            if ids.dtype.kind in "OU":  # not hashed by the reader (Parquet decimals): the
                missing = [x is None or x != x for x in ids]  # dict merges equal rows
                ids = _Text(np.where(missing, -1, np.arange(len(ids))), ids)
        kind = "O" if isinstance(ids, _Text) else ids.dtype.kind
        if kind == "b" or (kind == "f" and np.isinf(ids).any()):
            # pandas read 'True' / 'true' / 'TRUE' as one bool, 'inf' / 'Infinity' as one
            # float: these ids are text, to be read as written
            raise _NumbersAndText(f"{self.name} holds ids pandas reads as booleans or "
                                  "infinities", self.role)
        if kind == "f":
            missing = np.isnan(ids)
            if missing.any():
                raise ValueError(f"{self.name} has missing ids (first at "
                                 f"{self.locate(offset + int(np.flatnonzero(missing)[0]))})")
            whole = np.all(ids == np.round(ids))
            if self.kind != "f" and whole and np.all(np.abs(ids) < 2.0 ** 63):
                ids, kind = ids.astype(np.int64), "i"
            elif not whole:  # pandas parsed integers past 2**53 beside fractions: rounded
                self._exact_floats(ids)
        elif kind == "u":
            kind = "i"
        if self.kind is not None and kind != self.kind:
            if {kind, self.kind} != {"i", "f"}:
                raise _NumbersAndText(f"{self.name} mixes numbers and text (from "
                                      f"{self.locate(offset)} on, the ids differ from those "
                                      "before); make its ids one type", self.role)
            # whole and fractional numbers: floats for all, as one chunk would have them
            if self.kind == "i":
                self._leave_table()
                if self.ids is not None:
                    self.ids = self._exact_floats(self.ids)
            else:
                ids = self._exact_floats(ids)
            kind = "f"
        self.kind = kind
        return ids

    def _one_integer_type(self, ids):
        """This chunk's integer ids and the ids seen so far in one integer type: pandas
        reads a chunk with an id past 2**63 - 1 as uint64 and the others as int64, which
        numpy would otherwise compare as floats and merge by wrapping."""
        common = np.result_type(ids.dtype, self.ids.dtype)
        if common.kind == "f":  # uint64 beside a signed type: only uint64 holds both
            if any(p.dtype.kind == "i" and len(p) and p.min() < 0 for p in (ids, self.ids)):
                # no integer type holds both; pandas reads such a column, whole, as text
                raise _NumbersAndText(f"{self.name} mixes negative ids with ids past "
                                      "2**63 - 1", self.role)
            common = np.dtype(np.uint64)
        self.ids = self.ids.astype(common, copy=False)
        return ids.astype(common, copy=False)

    def _exact_floats(self, ids):
        if len(ids) and np.abs(ids).max() >= 2 ** 53:
            raise ValueError(f"{self.name} mixes fractional ids with integers past 2**53, which "
                             "floats cannot tell apart; make its ids one type")
        return ids.astype(np.float64)

    def finish(self):
        """(sorted ids, remap) with ``remap[code]`` the position of that code's id."""
        self._leave_table()
        if self.kind != "O":
            remap = np.empty(len(self.ids), dtype=np.int32)
            remap[self.codes] = np.arange(len(self.ids), dtype=np.int32)
            return self.ids, remap
        ids = np.fromiter(self.seen, dtype=object, count=len(self.seen))  # in code order
        if self.strip:
            # pandas' skipinitialspace dropped the spaces before a field, not those after:
            # 'u1 ' and 'u1' become one id here, as the header's names are stripped
            ids[:] = [x.strip() if isinstance(x, str) else x for x in ids]
        try:
            ids, remap = np.unique(ids, return_inverse=True)
        except TypeError:  # pandas typed part of a chunk as numbers and part as text
            raise _NumbersAndText(f"{self.name} mixes numbers and text; make its ids one type",
                                  self.role) from None
        if all(isinstance(x, str) for x in ids):
            ids = ids.astype(str)
        return ids, remap.ravel().astype(np.int32)


def _values(raw, name, dtype, offset, locate, text=False):
    raw = np.asarray(raw)
    if text:
        _check_filled(raw, name, offset, locate)
    if raw.dtype.kind in "OU":  # text such as 'nan' (only empty fields are missing), decimals
        raw = _parsed(raw, name, offset, locate)
    elif raw.dtype.kind not in "iuf":  # numpy would cast dates, durations and bools
        raise TypeError(f"{name} must hold real numbers; got dtype {raw.dtype} ({locate(offset)} "
                        f"holds {raw[0]}); check the column names, or convert the column "
                        "to numbers first")
    try:
        return v.value_array(raw, name, dtype, offset=offset, locate=locate)
    except ValueError as error:  # reading stops at the first chunk with a bad value
        raise ValueError(f"{error} (counted from {locate(offset)} to "
                         f"{locate(offset + len(raw) - 1)}, where reading stopped)") from None


def _check_filled(raw, name, offset, locate):
    """Raise for a value pandas found no text for (an empty field or a short line): it is
    NaN, where a NaN written as 'nan' is still text."""
    if raw.dtype.kind == "f":
        empty = np.isnan(raw)
    elif raw.dtype.kind == "O":
        empty = np.fromiter((isinstance(x, float) and x != x for x in raw), bool, len(raw))
    else:
        return
    if empty.any():
        raise ValueError(f"{name} has no value in {locate(offset + int(np.argmax(empty)))} (an "
                         "empty field or a short line); fill it or drop the line")


# a number as pandas reads one, and 'nan' (pandas leaves it as text when only empty fields
# are missing); float() takes more: '1_0', non-ASCII digits and spaces
_NUMBER = re.compile(r"\s*[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf(inity)?|nan)\s*",
                     re.IGNORECASE | re.ASCII)


_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d*,\d+\s*", re.ASCII)


def _parsed(raw, name, offset, locate):
    """An object column of number texts (and Parquet decimals) as float64."""
    for row, x in enumerate(raw):
        if isinstance(x, str) or x is None:
            if x is None or not _NUMBER.fullmatch(x):
                comma = x is not None and _DECIMAL_COMMA.fullmatch(x)
                raise ValueError(f"{name} is not numeric: {locate(offset + row)} holds {x!r}; "
                                 + ("numbers are read with a decimal point, not a comma: "
                                    "convert the file first" if comma else
                                    "check sep=, header= and the column names"))
        elif isinstance(x, bool) or not isinstance(x, (numbers.Real, decimal.Decimal)):
            raise TypeError(f"{name} must hold real numbers: {locate(offset + row)} holds {x!r} "
                            f"({type(x).__name__}); check the column names, or convert the "
                            "column to numbers first")
    return raw.astype(np.float64)


def _assemble(chunks, columns, dtype, duplicates, path, strip_ids, locate,
              guessed_header=False):
    encoders = {role: _IdEncoder(role, columns[role], locate, strip_ids)
                for role in ("user", "item")}
    parts = {role: _Segments() for role in ("user", "item", "rating", "timestamp")
             if role in columns}
    offset = 0
    for chunk in chunks:
        n = len(chunk["user"])
        if n == 0:
            continue
        for role in ("user", "item"):
            parts[role].append(encoders[role].encode(chunk[role], offset))
        if "rating" in columns:
            parts["rating"].append(_values(chunk["rating"], f"rating column {columns['rating']!r}",
                                           dtype, offset, locate, text=strip_ids))
        if "timestamp" in columns:
            parts["timestamp"].append(v.times(chunk["timestamp"], f"timestamp column "
                                              f"{columns['timestamp']!r}", offset, locate))
        offset += n
    if offset == 0:
        raise ValueError(f"{path} holds no ratings")
    codes = {}
    ids = {}
    for role in ("user", "item"):
        ids[role], remap = encoders[role].finish()
        for part in parts[role].filled():
            np.take(remap, part, out=part)  # in place, segment by segment
        codes[role] = parts.pop(role).concatenate()
    if guessed_header:
        _check_first_row(ids, codes, path)
    values = (parts.pop("rating").concatenate() if "rating" in columns
              else np.ones(offset, dtype=dtype))
    shape = v.shape_2d((len(ids["user"]), len(ids["item"])))
    stamps = None
    if "timestamp" in columns:
        stamps = _row_major_latest(codes["user"], codes["item"],
                                   parts.pop("timestamp").concatenate(), shape)
    # hand the only references over, so that the COO arrays can go once the CSR exists
    coo = [codes.pop("user"), codes.pop("item"), values]
    del values
    ratings = _build_owned(coo, shape, duplicates, ids["user"], ids["item"], locate)
    return ratings if stamps is None else (ratings, stamps)


class HeaderAsDataError(ValueError):
    """The first line of a file read without a header looks like a header."""

    def __init__(self, path, role, first):
        super().__init__(f"the first line of {path} looks like a header, not a rating: its "
                         f"{role} id {first!r} is the only one that is not a number; pass "
                         "header=True to skip that line (header=False reads it as data)")
        self.path, self.role, self.first = path, role, first


def _check_first_row(ids, codes, path):
    """Raise :class:`HeaderAsDataError` when an id column is text only because of its first
    row: the header line of a file read by column positions (``rating=None`` has no value
    column to fail on ``'weight'``), which would add a user and an item and turn every id
    into text."""
    for role in ("user", "item"):
        if ids[role].dtype.kind not in "OU" or len(ids[role]) < 2:
            continue
        first = ids[role][codes[role][0]]
        if not isinstance(first, str) or _NUMBER.fullmatch(first):
            continue
        first = str(first)  # not np.str_, for the message
        others = (x for x in ids[role] if x != first)
        if all(isinstance(x, str) and _NUMBER.fullmatch(x) for x in others):
            raise HeaderAsDataError(path, role, first)


class _Segments:
    """A growing column stored in a few large segments instead of one array per chunk.

    Each segment is at least 64 MB, above glibc's largest dynamic mmap threshold
    (32 MB), so it is mapped on its own and returned to the system when freed. Many
    chunk-sized arrays would come from the heap instead, and freeing them after the
    final concatenation would not lower the resident size: reading 20M ratings
    peaked 0.6 × the final Ratings higher that way. Untouched pages of the last
    segment cost no memory.
    """

    _BYTES = 64 << 20

    def __init__(self):
        self.segments = []  # full or partly filled arrays
        self.used = 0  # entries used in the last segment

    def append(self, array):
        while len(array):
            if not self.segments or self.used == len(self.segments[-1]):
                size = max(self._BYTES // array.dtype.itemsize, 1)
                self.segments.append(np.empty(size, dtype=array.dtype))
                self.used = 0
            last = self.segments[-1]
            take = min(len(array), len(last) - self.used)
            last[self.used:self.used + take] = array[:take]
            self.used += take
            array = array[take:]

    def filled(self):
        """Views of the filled part of every segment."""
        return [s if i < len(self.segments) - 1 else s[:self.used]
                for i, s in enumerate(self.segments)]

    def concatenate(self):
        """One array of everything appended; the segments are released."""
        parts = self.filled()
        self.segments = []
        if len(parts) == 1:
            return parts[0]  # a view: the unused tail was never touched
        return np.concatenate(parts)


def _build_owned(coo, shape, duplicates, user_ids, item_ids, locate):
    """Ratings from the list ``[users, items, values]``, emptied as soon as the CSR is built.

    Peak memory is the COO arrays plus the CSR (about 1.25 times the final Ratings)
    instead of COO + CSR + CSC; files with duplicate pairs take
    :meth:`Ratings._build`, which resolves or reports them.
    """
    csr = sp.coo_matrix((coo[2], (coo[0], coo[1])), shape=shape).tocsr()
    if csr.nnz < len(coo[2]):
        del csr
        return Ratings._build(*coo, shape, duplicates, user_ids, item_ids, locate)
    coo.clear()
    by_user = Compressed(csr.indptr.astype(_indptr_dtype(csr.nnz), copy=False),
                         csr.indices.astype(np.int32, copy=False), csr.data)
    del csr
    return Ratings(by_user, _transpose(by_user, shape), shape, user_ids, item_ids)
