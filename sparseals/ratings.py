"""``Ratings``: validated ratings held by user (CSR) and by item (CSC), with id maps."""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from . import _validation as v

_DUPLICATES = {"error", "sum", "last", "mean"}


class DuplicatePairsError(ValueError):
    """A (user, item) pair was given more than once and ``duplicates='error'``.

    ``found`` (its only argument) says which; the message adds how to combine them.
    """

    @property
    def found(self):
        return self.args[0]

    def __str__(self):
        return f"{self.found}; pass duplicates='sum', 'last' or 'mean' to combine them"


class Compressed(NamedTuple):
    """One side of the ratings: row ``r``'s entries are ``indices/data[indptr[r]:indptr[r+1]]``.

    Parameters
    ----------
    indptr : ndarray of int32, or int64 when nnz ≥ 2³¹
    indices : ndarray of int32
    data : ndarray of float32 or float64
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


def _check_columns(frame, named):
    """Raise unless each ``(role, column)`` of ``named`` is the label of exactly one column
    of ``frame`` (a pandas or Dask DataFrame). A None column is skipped for the roles that
    may be left out (rating, timestamp); the id columns take none. A list of labels, or
    another unhashable, is named as missing too (``list.count`` compares, never hashes).
    """
    labels = list(frame.columns)
    for role, column in named:
        if column is None and role in ("rating", "timestamp"):  # None: not given
            continue
        found = labels.count(column)
        if found == 0:
            raise ValueError(f"{role} column {column!r} is not in the DataFrame; its columns "
                             f"are {labels}")
        if found > 1:
            raise ValueError(f"{role} column {column!r} appears {found} times in the "
                             "DataFrame")


class Ratings:
    """A sparse users × items rating matrix, validated once and stored both ways.

    Build it with one of the constructors (:meth:`from_coo`, :meth:`from_dataframe`,
    :meth:`from_dense`, :meth:`from_sparse`); the models also accept a scipy.sparse
    matrix or a dense array and build one for you. A Ratings built directly from raw
    arrays must keep the constructors' invariants (each side's row indices in range,
    sorted and distinct); fits, metrics and splits check them and refuse one that breaks
    them. A stored value is an observed rating, zeros included; a missing cell is
    unobserved.

    Parameters
    ----------
    by_user, by_item : Compressed
        The same ratings by user (CSR arrays) and by item (CSC arrays), as in the
        attributes below.
    shape : (int, int)
        ``(n_users, n_items)``.
    user_ids, item_ids : ndarray, optional
        Original ids of the rows / columns; default ``arange``.

    Attributes
    ----------
    shape : (int, int)
        ``(n_users, n_items)``.
    nnz : int
        Number of observed ratings.
    by_user, by_item : Compressed
        The CSR (rows = users) and CSC (rows = items) arrays: int32 indices, int32
        index pointers (int64 when nnz ≥ 2³¹), values in ``dtype``.
    user_ids, item_ids : ndarray
        Original id of each row / column (``arange`` when built from indices).
    """

    def __init__(self, by_user, by_item, shape, user_ids=None, item_ids=None):
        self.by_user = by_user
        self.by_item = by_item
        self.shape = (int(shape[0]), int(shape[1]))
        self.user_ids = np.arange(self.shape[0]) if user_ids is None else user_ids
        self.item_ids = np.arange(self.shape[1]) if item_ids is None else item_ids

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_coo(cls, users, items, values, shape=None, dtype="float32", duplicates="error"):
        """Ratings from three parallel arrays of user index, item index and value.

        Parameters
        ----------
        users, items : array_like of int
            Indices ``0..n_users-1`` and ``0..n_items-1``.
        values : array_like of float
            The ratings; must be finite.
        shape : (int, int), optional
            ``(n_users, n_items)``; default one past the largest index on each side.
        dtype : {'float32', 'float64'}
            Storage type of the values.
        duplicates : {'error', 'sum', 'last', 'mean'}
            What to do with a (user, item) pair given more than once:
            ``'error'`` raises :class:`~sparseals.ratings.DuplicatePairsError` (a ValueError).

        Returns
        -------
        Ratings

        Examples
        --------
        >>> r = Ratings.from_coo([0, 0, 1], [0, 2, 1], [5.0, 3.0, 4.0])
        >>> r.shape, r.nnz
        ((2, 3), 3)
        """
        dtype = v.float_dtype(dtype)
        v.one_of(duplicates, "duplicates", _DUPLICATES)
        users = v.id_array(users, "users")
        items = v.id_array(items, "items")
        values = v.value_array(values, "values", dtype)
        v.same_length([users, items, values], ["users", "items", "values"])
        if users.size == 0:
            raise ValueError("no ratings given: users, items and values are empty")
        if shape is None:
            v.ids_in_range(users, "users", v.INT32_MAX, "users")
            v.ids_in_range(items, "items", v.INT32_MAX, "items")
            shape = (int(users.max()) + 1, int(items.max()) + 1)
        shape = v.shape_2d(shape)
        v.ids_in_range(users, "users", shape[0], "users")
        v.ids_in_range(items, "items", shape[1], "items")
        return cls._build(users, items, values, shape, duplicates)

    @classmethod
    def from_dataframe(cls, df, user="userId", item="movieId", rating="rating",
                       dtype="float32", duplicates="error", *, timestamp=None):
        """Ratings from a pandas DataFrame whose user and item ids may be anything hashable.

        Ids are encoded to ``0..n-1`` in sorted order; the originals are kept in
        ``user_ids`` / ``item_ids``. Each column holds one kind of id (numbers, text,
        dates, tuples, …): one that mixes kinds (``1`` and ``'1'``) or misses ids is
        refused. The ratings are stored by user, then by item (``by_user``), not in
        the DataFrame's row order.

        Parameters
        ----------
        df : pandas.DataFrame
        user, item : str
            Names of the id columns.
        rating : str or None
            Name of the rating column; ``None`` gives every pair the value 1 (implicit
            feedback without counts).
        dtype : {'float32', 'float64'}
            Storage type of the values.
        duplicates : {'error', 'sum', 'last', 'mean'}
            What to do with a (user, item) pair given more than once:
            ``'error'`` raises :class:`~sparseals.ratings.DuplicatePairsError` (a ValueError).
        timestamp : str, optional
            Name of a timestamp column (integers, or datetimes, taken as Unix seconds);
            when given, the timestamps are returned too, in the order the time-based
            splits of :mod:`sparseals.model_selection` need. ``df[timestamp]`` itself is
            in the DataFrame's row order, which is not that order unless the rows are
            sorted by user, then item, with no pair repeated.

        Returns
        -------
        ratings : Ratings
        timestamps : ndarray of int64, only when ``timestamp`` is given
            One per stored rating, aligned with ``ratings.by_user``, as
            :func:`~sparseals.datasets.read_ratings` returns them; a pair merged from
            duplicates gets its latest timestamp (whatever ``duplicates`` says).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"u": ["ann", "bob"], "i": [10, 20], "r": [4.0, 2.5]})
        >>> Ratings.from_dataframe(df, user="u", item="i", rating="r").item_ids.tolist()
        [10, 20]
        >>> df = pd.DataFrame({"u": [1, 0, 0], "i": [0, 1, 0], "r": [1.0, 2.0, 3.0],
        ...                    "t": [30, 20, 10]})
        >>> r, ts = Ratings.from_dataframe(df, "u", "i", "r", timestamp="t")
        >>> ts.tolist()  # (0, 0), (0, 1), (1, 0): by_user's order, not the rows'
        [10, 20, 30]
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
        dtype = v.float_dtype(dtype)
        v.one_of(duplicates, "duplicates", _DUPLICATES)
        _check_columns(df, (("user", user), ("item", item), ("rating", rating),
                           ("timestamp", timestamp)))
        if len(df) == 0:
            raise ValueError("no ratings given: the DataFrame is empty")
        codes = {}
        uniques = {}
        for role, column in (("user", user), ("item", item)):
            series = df[column]
            if series.isna().any():
                first = int(np.flatnonzero(series.isna().to_numpy())[0])
                raise ValueError(f"{role} column {column!r} has missing ids (first at row {first})")
            series = _one_kind_of_ids(series, f"{role} column {column!r}", role)
            codes[role], uniques[role] = _encode_ids(series)
        if rating is None:
            values = np.ones(len(df), dtype=dtype)
        else:
            values = v.value_array(df[rating].to_numpy(), f"rating column {rating!r}", dtype)
        if timestamp is not None:
            stamps = _time_column(df[timestamp], f"timestamp column {timestamp!r}")
        shape = v.shape_2d((len(uniques["user"]), len(uniques["item"])))
        ratings = cls._build(codes["user"], codes["item"], values, shape, duplicates,
                             uniques["user"], uniques["item"])
        if timestamp is None:
            return ratings
        return ratings, _row_major_latest(codes["user"], codes["item"], stamps, shape)

    @classmethod
    def from_dense(cls, array, dtype="float32"):
        """Ratings from a dense 2-D array in which NaN (or a masked array's mask) marks
        an unobserved cell.

        Parameters
        ----------
        array : array_like of shape (n_users, n_items)
            Ratings; NaN (or masked) where a cell is not observed, any other value
            (zeros included) a rating.
        dtype : {'float32', 'float64'}
            Storage type of the values.

        Returns
        -------
        Ratings
        """
        dtype = v.float_dtype(dtype)
        if sp.issparse(array):
            raise TypeError("from_dense takes a dense array in which NaN marks unobserved "
                            "cells; use Ratings.from_sparse for a scipy.sparse matrix")
        if type(array).__module__.startswith("pandas") and hasattr(array, "to_numpy"):
            try:  # nullable columns (Float64, Int64) hold NA, which numpy reads as objects
                array = array.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                pass  # not numbers: rejected below, with the usual message
        if isinstance(array, np.ma.MaskedArray):  # np.asarray would drop the mask
            if array.dtype.kind in "iuf":
                array = array.astype(np.result_type(array.dtype, np.float32)).filled(np.nan)
            else:
                array = array.data  # rejected below, with the usual message
        array = np.asarray(array)
        if array.ndim != 2:
            raise ValueError(f"a dense rating matrix must be 2-D; got shape {array.shape}")
        if array.size == 0:
            raise ValueError(f"the dense rating matrix is empty (shape {array.shape})")
        values = v.finite_real(array, "the dense rating matrix", dtype, allow_nan=True)
        observed = ~np.isnan(values)
        if not observed.any():
            raise ValueError("the dense rating matrix has no observed cells (all NaN)")
        shape = v.shape_2d(array.shape)
        if observed.all():
            indptr = np.arange(0, values.size + 1, shape[1], dtype=_indptr_dtype(values.size))
            data = np.ascontiguousarray(values).ravel()
            if np.may_share_memory(data, array):  # never keep the caller's array
                data = data.copy()
            by_user = Compressed(indptr, np.tile(np.arange(shape[1], dtype=np.int32), shape[0]),
                                 data)
            return cls(by_user, _transpose(by_user, shape), shape)
        users, items = np.nonzero(observed)
        return cls._build(users.astype(np.int32), items.astype(np.int32), values[observed],
                          shape, "error")

    @classmethod
    def from_sparse(cls, matrix, dtype="float32", duplicates="error"):
        """Ratings from a scipy.sparse matrix or array (users × items) in CSR, CSC, COO,
        LIL or DOK format.

        Every stored entry is a rating, explicit zeros included. BSR and DIA matrices are
        refused: they store cells that are not entries (block fill, diagonal padding).

        Parameters
        ----------
        matrix : scipy.sparse matrix or array of shape (n_users, n_items)
        dtype : {'float32', 'float64'}
            Storage type of the values.
        duplicates : {'error', 'sum', 'last', 'mean'}
            What to do with a (user, item) entry stored more than once (COO, or
            non-canonical CSR / CSC), as in :meth:`from_coo`.

        Returns
        -------
        Ratings
        """
        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse matrix; got {type(matrix).__name__}")
        dtype = v.float_dtype(dtype)
        if matrix.ndim != 2:
            raise ValueError(f"the sparse rating matrix must be 2-D; got shape {matrix.shape}")
        unclear = {"bsr": "the zeros that fill its blocks are stored too",
                   "dia": "its diagonals are padded, and scipy drops their stored zeros"}
        if matrix.format in unclear:
            raise TypeError(
                f"from_sparse cannot tell a {matrix.format.upper()} matrix's ratings from its "
                f"other cells ({unclear[matrix.format]}); convert it with .tocsr() and keep "
                "the entries you mean (eliminate_zeros() drops stored zeros)")
        shape = v.shape_2d(tuple(int(s) for s in matrix.shape))
        v.sparse_structure(matrix, "the sparse matrix", "users", "items")
        if matrix.nnz == 0:
            raise ValueError(f"the sparse rating matrix {shape} has no stored entries")
        _check_shape_memory(shape, matrix.nnz)
        if matrix.format in ("csr", "csc"):
            nnz = matrix.nnz
            # a fresh view: scipy caches has_canonical_format, stale once arrays are edited
            kind = sp.csr_array if matrix.format == "csr" else sp.csc_array
            view = kind((matrix.data[:nnz], matrix.indices[:nnz], matrix.indptr),
                        shape=matrix.shape, copy=False)
            if view.has_canonical_format:  # sorted, no duplicates: copy one side as it is
                values = v.value_array(view.data, "the sparse matrix's values", dtype)
                major = Compressed(view.indptr.astype(_indptr_dtype(nnz)),
                                   view.indices.astype(np.int32),
                                   values.copy() if np.may_share_memory(values, view.data)
                                   else values)
                if matrix.format == "csr":
                    return cls(major, _transpose(major, shape), shape)
                return cls(_transpose(major, shape[::-1]), major, shape)
        coo = matrix.tocoo()
        values = v.value_array(coo.data, "the sparse matrix's values", dtype)
        return cls._build(coo.row, coo.col, values, shape, duplicates)

    # ------------------------------------------------------------------ construction
    @classmethod
    def _build(cls, users, items, values, shape, duplicates, user_ids=None, item_ids=None,
               locate=None):
        """CSR and CSC from validated COO arrays, resolving duplicate pairs (``locate``: as
        :func:`_duplicate_message` takes it)."""
        n = len(values)
        _check_shape_memory(shape, n)
        coo = sp.coo_matrix((values, (users, items)), shape=shape)
        csr = coo.tocsr()  # sums duplicates, sorts indices (O(nnz), no Python loop)
        del coo
        if csr.nnz < n:
            if duplicates == "error":
                raise DuplicatePairsError(
                    _duplicate_message(users, items, shape, user_ids, item_ids, locate=locate))
            del csr  # only its count was needed: freed before the arrays below
            if duplicates in ("sum", "mean"):  # combined in float64: 3e38 + 3e38 is finite
                csr = sp.coo_matrix((values.astype(np.float64), (users, items)),
                                    shape=shape).tocsr()
                if duplicates == "mean":
                    counts = sp.coo_matrix((np.ones(n, dtype=np.int32), (users, items)),
                                           shape=shape).tocsr()
                    csr.data /= counts.data
                    del counts
                csr.data = v.finite_real(csr.data, f"the {duplicates} of duplicated pairs",
                                         values.dtype)
            elif duplicates == "last":
                keep = _last_occurrences(users, items, shape)
                csr = sp.coo_matrix((values[keep], (users[keep], items[keep])),
                                    shape=shape).tocsr()
        by_user = Compressed(csr.indptr.astype(_indptr_dtype(csr.nnz), copy=False),
                             csr.indices.astype(np.int32, copy=False), csr.data)
        del csr
        return cls(by_user, _transpose(by_user, shape), shape, user_ids, item_ids)

    def _check_structure(self):
        """Raise unless both sides' arrays describe ``shape``, each row's indices sorted and
        distinct (O(nnz)): a Ratings built from raw arrays, or edited in place, reaches the
        numba kernels, which trust its indices (one past the factors read outside them, or
        crashed the process; rows out of order were searched and read wrongly)."""
        shape = v.shape_2d(self.shape)
        counts = []
        for name, side, n_rows, n_cols, what, row_what in (
                ("by_user", self.by_user, shape[0], shape[1], "items", "user"),
                ("by_item", self.by_item, shape[1], shape[0], "users", "item")):
            if not isinstance(side, Compressed):
                raise TypeError(f"Ratings.{name} must be a Compressed (indptr, indices, data); "
                                f"got {type(side).__name__}")
            nnz = v.compressed_structure(side.indptr, side.indices, n_rows, n_cols,
                                         f"Ratings.{name}", what)
            if not nnz == len(side.indices) == len(np.asarray(side.data)):
                raise ValueError(f"Ratings.{name} holds {nnz} entries by its indptr, "
                                 f"{len(side.indices)} indices and "
                                 f"{len(np.asarray(side.data))} values; they must agree")
            v.sorted_distinct_rows(side.indptr, side.indices, f"Ratings.{name}", row_what,
                                   what[:-1])
            counts.append(nnz)
        if counts[0] != counts[1]:
            raise ValueError(f"Ratings.by_user holds {counts[0]} ratings and by_item "
                             f"{counts[1]}; they must be the same ratings")

    # ------------------------------------------------------------------ views
    @property
    def nnz(self):
        return int(self.by_user.indptr[-1])

    @property
    def dtype(self):
        return self.by_user.data.dtype

    @property
    def csr(self):
        """The ratings as a ``scipy.sparse.csr_array`` (users × items), sharing our arrays."""
        return sp.csr_array(self.by_user[::-1], shape=self.shape)

    @property
    def csc(self):
        """The ratings as a ``scipy.sparse.csc_array`` (users × items), sharing our arrays."""
        return sp.csc_array(self.by_item[::-1], shape=self.shape)

    @property
    def is_fully_observed(self):
        return self.nnz == self.shape[0] * self.shape[1]

    def astype(self, dtype):
        """The same ratings with values in ``dtype`` (indices shared; values copied if needed).

        Parameters
        ----------
        dtype : {'float32', 'float64'}

        Returns
        -------
        Ratings
            ``self`` when the values are already in ``dtype``.
        """
        dtype = v.float_dtype(dtype)
        if dtype == self.dtype:
            return self
        return Ratings(self.by_user._replace(data=self.by_user.data.astype(dtype)),
                       self.by_item._replace(data=self.by_item.data.astype(dtype)),
                       self.shape, self.user_ids, self.item_ids)

    def to_dense(self, fill=np.nan):
        """Dense ``(n_users, n_items)`` array with ``fill`` in unobserved cells.

        Parameters
        ----------
        fill : float
            Value of the unobserved cells (default NaN, as :meth:`from_dense` reads them).

        Returns
        -------
        ndarray of shape (n_users, n_items), in ``dtype``
        """
        dense = np.full(self.shape, fill, dtype=self.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.by_user.indptr))
        dense[rows, self.by_user.indices] = self.by_user.data
        return dense

    def __repr__(self):
        density = self.nnz / (self.shape[0] * self.shape[1])
        return (f"Ratings({self.shape[0]} users × {self.shape[1]} items, {self.nnz} ratings, "
                f"{density:.3%} dense, {self.dtype.name})")


def _check_shape_memory(shape, nnz):
    """MemoryError, before anything is allocated, when the arrays kept per user and per
    item (an index pointer and an id each, 16 bytes with the conversions' copies) cannot
    fit: a mistyped ``shape`` would otherwise get the process killed by the system."""
    from ._memory import require

    require(16 * (shape[0] + shape[1] + 2), lambda need, available: (
        f"a rating matrix of shape {shape} needs about {need:.1f} GiB for its per-user and "
        f"per-item arrays, more than the {available:.1f} GiB available; is the shape right? "
        f"({nnz:,} ratings)"))


def _indptr_dtype(nnz):
    return np.int32 if nnz <= v.INT32_MAX else np.int64


def _transpose(by_row, shape):
    """The other side's compressed arrays, via scipy's O(nnz) conversion."""
    csr = sp.csr_matrix((by_row.data, by_row.indices, by_row.indptr), shape=shape, copy=False)
    csc = csr.tocsc()
    nnz = csc.nnz
    return Compressed(csc.indptr.astype(_indptr_dtype(nnz), copy=False),
                      csc.indices.astype(np.int32, copy=False), csc.data)


def _pair_keys(users, items, shape):
    return users.astype(np.int64) * shape[1] + items.astype(np.int64)


def _last_occurrences(users, items, shape):
    """Positions of the last occurrence of each distinct (user, item) pair."""
    keys = _pair_keys(users, items, shape)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]  # sorted (the unsorted ones freed)
    is_last = np.ones(len(keys), dtype=bool)
    is_last[:-1] = keys[1:] != keys[:-1]
    del keys
    return order[is_last]


def _row_major_latest(users, items, stamps, shape):
    """Per distinct (user, item) pair in row-major order, its latest timestamp."""
    keys = _pair_keys(users, items, shape)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return np.maximum.reduceat(stamps[order], starts)


def _time_column(series, name):
    """A DataFrame's timestamp column as int64 Unix seconds (:func:`_validation.times`)."""
    import pandas as pd

    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{name} has missing times (first at row "
                         f"{int(np.flatnonzero(missing)[0])}); fill them or drop those rows")
    if isinstance(series.dtype, pd.DatetimeTZDtype):  # Unix seconds count from UTC
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    # pandas' nullable Int64 & co. name their numpy dtype apart
    return v.times(series.to_numpy(dtype=getattr(series.dtype, "numpy_dtype", None)), name)


_ID_TABLE_SLACK = 1 << 16


def _one_kind_of_ids(series, name, role):
    """An id column holding one kind of value.

    An object column of integers becomes int64 (the fast coding path, and ids a model
    file can store). An object column mixing kinds is an error: 1 and '1' would
    silently be two users, 1 and True one.
    """
    import pandas as pd
    from pandas.api.types import infer_dtype

    if isinstance(series.dtype, pd.SparseDtype):
        series = series.sparse.to_dense()
    if isinstance(series.dtype, pd.CategoricalDtype):  # coded in category order otherwise
        series = series.astype(series.cat.categories.dtype)
    if series.dtype != object:
        return series

    inferred = infer_dtype(series, skipna=False)
    if inferred == "integer":
        try:
            return series.astype(np.int64)
        except OverflowError:  # past int64: kept as Python ints
            return series
    if inferred in ("mixed", "mixed-integer"):
        kinds = sorted({kind.__name__ for kind in set(map(type, series.to_numpy()))})
        if len(kinds) > 1:
            raise TypeError(f"{name} mixes kinds of ids ({', '.join(kinds)}): 1 and '1' would be "
                            f"different {role}s, 1 and True the same one; convert the column to "
                            "one kind first, e.g. with .astype(str)")
    return series


def _encode_ids(series):
    """(int32 codes, sorted distinct ids) of a pandas Series without missing values.

    Non-negative integer ids below ``4 × rows + 2¹⁶`` (MovieLens, Netflix and most
    exported ids) are coded through a table indexed by the id: 11–14× faster than
    ``pd.factorize(sort=True)`` on 20M rows, whose int64 codes also doubled the memory.
    The bound keeps the table (5 bytes per possible id) in proportion to the input.
    """
    import pandas as pd

    if series.dtype.kind in "iu" and len(series):
        # pandas' nullable Int64 & co. name their numpy dtype apart
        ids = series.to_numpy(dtype=getattr(series.dtype, "numpy_dtype", series.dtype))
        low, high = ids.min(), ids.max()
        if low >= 0 and high < 4 * len(ids) + _ID_TABLE_SLACK:
            present = np.zeros(int(high) + 1, dtype=bool)
            present[ids] = True
            table = np.cumsum(present, dtype=np.int32)
            table -= 1
            return table[ids], np.flatnonzero(present).astype(ids.dtype)
    codes, uniques = pd.factorize(series, sort=True)
    return codes.astype(np.int32), np.asarray(uniques)


def _duplicate_message(users, items, shape, user_ids, item_ids, positions=True, locate=None):
    """What the first duplicated pair is and where; ``locate`` names a position in the words
    of the input (``'line 12'`` of a file)."""
    keys = _pair_keys(users, items, shape)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    repeated = sorted_keys[1:] == sorted_keys[:-1]
    count = int(repeated.sum())
    first = int(np.flatnonzero(repeated)[0])
    a, b = sorted(int(p) for p in order[first:first + 2])
    user, item = users[a], items[a]
    if user_ids is not None:
        user, item = user_ids[user], item_ids[item]
    if not positions:  # a part of the data (a Dask block): its count and order are its own
        return f"duplicated (user, item) pairs, among them ({user}, {item})"
    where = (f"positions {a} and {b}" if locate is None
             else f"{locate(a)} and {locate(b)}")
    return (f"{count} duplicated (user, item) pair(s): the first, ({user}, {item}), is at "
            f"{where}")
