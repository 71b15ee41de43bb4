"""Every check made at the public boundary, and its error text.

Messages name the parameter, what was received and, where there is one, the fix.
The kernels assume what these functions establish.
"""

import math
import numbers
import os

import numpy as np

INT32_MAX = np.iinfo(np.int32).max
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype, name="dtype"):
    """``dtype`` as a numpy float32 or float64 dtype."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    # np.dtype(None) is float64, and a dtype compares equal to None: `None in FLOAT_DTYPES`
    if dtype is None or resolved is None or resolved not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64'; got {dtype!r}")
    return resolved


def boolean(value, name):
    """Raise unless ``value`` is a bool (a string such as 'False' would count as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def existing_file(path, what, hint="give the file in it"):
    """Raise unless ``path`` is a regular file: a folder is named as one, not as missing,
    as is a pipe or a device, which cannot be read twice."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a directory; {hint}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    if not os.path.isfile(path):  # a pipe (<(zcat ...)) would be read short the second time
        raise ValueError(f"{what} {path!r} is not a regular file (a pipe or a device?), which "
                         "cannot be read twice; save it to a file first")


def positive_int(value, name, most=None):
    """``value`` as an int ≥ 1 (and ≤ ``most`` when given: a count a kernel takes as int64)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if most is not None and value > most:
        raise ValueError(f"{name} must be at most {most:,}; got {value!r}")
    return int(value)


def non_negative_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative number; got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a non-negative finite number; got {value!r}")
    return value


def one_of(value, name, choices):
    try:
        known = value in choices
    except TypeError:  # unhashable, e.g. a list: "unhashable type: 'list'" named nothing
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


def optional_int(value, name):
    if value is not None and (isinstance(value, (bool, np.bool_))
                              or not isinstance(value, numbers.Integral)):
        raise ValueError(f"{name} must be an integer or None; got {value!r}")
    return value


def random_generator(seed, name="random_state"):
    """``numpy.random.default_rng(seed)`` after checking ``seed`` is None, a non-negative
    int, or a numpy Generator, SeedSequence or RandomState (numpy's own errors did not
    name the argument)."""
    kinds = (np.random.Generator, np.random.SeedSequence, np.random.RandomState)
    integer = isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_))
    if not (seed is None or isinstance(seed, kinds) or (integer and seed >= 0)):
        raise ValueError(f"{name} must be None, a non-negative int, or a numpy Generator, "
                         f"SeedSequence or RandomState; got {seed!r}")
    return np.random.default_rng(seed)


def _as_1d(values, name):
    if isinstance(values, np.ma.MaskedArray) and np.ma.is_masked(values):
        # np.asarray would read the values under the mask
        raise ValueError(f"{name} is a masked array with masked entries; pass only the "
                         f"entries you mean (e.g. array[~array.mask])")
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got an array of shape {array.shape}")
    return array


def id_array(ids, name, hint=" (use Ratings.from_dataframe for arbitrary ids)"):
    """``ids`` as a 1-D integer array (any integer dtype; never bool, float or object);
    ``hint`` ends the message when they are text or objects."""
    array = _as_1d(ids, name)
    if array.dtype.kind not in "iu":
        if array.size == 0 and array.dtype.kind == "f":
            return array.astype(np.int64)
        if array.dtype.kind == "f" and np.isnan(array).any():  # e.g. pandas Int64 with NA
            first = int(np.flatnonzero(np.isnan(array))[0])
            raise ValueError(f"{name} has missing ids (NaN, first at position {first})")
        raise TypeError(f"{name} must hold integer indices; got dtype {array.dtype}"
                        + (hint if array.dtype.kind in "OUS" else ""))
    return native(array)


def native(array):
    """``array`` in the machine's byte order (a copy only when it is not): numba kernels
    take native arrays only."""
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def ids_in_range(ids, name, size, what, hint=""):
    """Raise unless every id in ``ids`` lies in ``[0, size)``; ``hint`` ends the message."""
    if ids.size == 0:
        return
    low = ids.min()
    if low < 0:
        first = int(np.flatnonzero(ids < 0)[0])
        raise ValueError(f"{name} contains negative ids (first at position {first}: "
                         f"{ids[first]}){hint}")
    high = ids.max()
    if high >= size:
        first = int(np.flatnonzero(ids >= size)[0])
        raise ValueError(
            f"{name} contains id {ids[first]} at position {first}, out of range for "
            f"{size} {what} (valid ids are 0..{size - 1}){hint}"
        )


def compressed_structure(indptr, indices, n_rows, n_cols, name, what):
    """Raise unless ``indptr``/``indices`` describe ``n_rows`` compressed rows of ids in
    ``[0, n_cols)``: ``indptr`` has ``n_rows + 1`` entries, starts at 0, never decreases and
    ends within ``indices``. Returns the number of entries, ``indptr[-1]``.

    scipy converts a CSR/CSC matrix that breaks these (built from raw arrays, or edited in
    place) without complaint, moving entries to other rows.
    """
    indptr = id_array(indptr, f"{name}.indptr")
    indices = id_array(indices, f"{name}.indices")
    if indptr.size != n_rows + 1:
        raise ValueError(f"{name}.indptr has {indptr.size} entries; expected {n_rows + 1} (one "
                         "per row, plus one)")
    if indptr[0] != 0:
        raise ValueError(f"{name}.indptr must start at 0; got {indptr[0]}")
    falls = np.flatnonzero(indptr[1:] < indptr[:-1])
    if falls.size:
        at = int(falls[0])
        raise ValueError(f"{name}.indptr decreases from {indptr[at]} to {indptr[at + 1]} at "
                         f"position {at + 1}; a compressed matrix's indptr never decreases")
    nnz = int(indptr[-1])
    if nnz > indices.size:
        raise ValueError(f"{name}.indptr ends at {nnz}, past the {indices.size} entries of "
                         f"{name}.indices")
    ids_in_range(indices[:nnz], f"{name}.indices", n_cols, what)
    return nnz


def sorted_distinct_rows(indptr, indices, name, row_what, what):
    """Raise unless each row's ``indices`` strictly increase, as every Ratings constructor
    leaves them (``row_what`` / ``what``: 'user' / 'item' or the other way round).

    The kernels find a row's entries by binary search and read fully observed rows as
    dense ones: rows listed out of order (a Ratings built from raw arrays) scored recall
    0.03 for 0.23 and fitted a permuted matrix, without an error.
    """
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)[:int(indptr[-1])]
    falls = indices[1:] <= indices[:-1]  # across a row boundary too, excused below
    starts = indptr[1:-1]
    falls[starts[(starts > 0) & (starts < len(indices))] - 1] = False
    if falls.any():
        p = int(np.argmax(falls)) + 1
        row = int(np.searchsorted(indptr, p, side="right")) - 1
        raise ValueError(f"{name} lists {what} {indices[p]} after {what} {indices[p - 1]} for "
                         f"{row_what} {row}; a Ratings holds each {row_what}'s {what}s sorted "
                         "and distinct (build it with Ratings.from_coo or from_sparse, not "
                         "from raw arrays)")


def sparse_structure(matrix, name, row_what, column_what):
    """Raise unless a scipy CSR, CSC or COO matrix's index arrays fit its shape
    (:func:`compressed_structure` for the compressed ones): scipy converts one edited in
    place without a check, writing past its arrays. Other formats are checked by scipy
    when they are built."""
    if matrix.format == "coo":
        ids_in_range(np.asarray(matrix.row), f"{name}.row", matrix.shape[0], row_what)
        ids_in_range(np.asarray(matrix.col), f"{name}.col", matrix.shape[1], column_what)
    elif matrix.format == "csr":
        compressed_structure(matrix.indptr, matrix.indices, matrix.shape[0], matrix.shape[1],
                             name, column_what)
    elif matrix.format == "csc":
        compressed_structure(matrix.indptr, matrix.indices, matrix.shape[1], matrix.shape[0],
                             name, row_what)


def value_array(values, name, dtype, offset=0, locate=None):
    """``values`` as a 1-D finite array of ``dtype`` (real numbers only).

    ``offset`` is added to the position an error reports (a chunk of a longer file);
    ``locate`` turns that position into the words that name it (``'line 12'`` of a file).
    """
    array = _as_1d(values, name)
    return finite_real(array, name, dtype, offset=offset, locate=locate)


def _position(index):
    return f"position {index}"


def _row(index):
    return f"row {index}"


def finite_real(array, name, dtype, allow_nan=False, offset=0, locate=None):
    """``array`` cast to ``dtype`` after checking it holds finite real numbers.

    With ``allow_nan`` NaN passes (dense input, where it marks a missing rating);
    ``offset`` and ``locate`` as in :func:`value_array` (1-D arrays).
    """
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {array.dtype}")
    with np.errstate(over="ignore"):
        converted = array.astype(dtype, copy=False)
    bad = ~np.isfinite(converted)
    if allow_nan:
        bad &= ~np.isnan(converted)
    if bad.any():
        count = int(bad.sum())
        first = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad.ravel())[0]),
                                                        bad.shape))
        where = (locate or _position)(first[0] + offset) if len(first) == 1 else (
            f"position {first}")
        original = array[first]
        detail = "infinite" if allow_nan else "NaN or infinite"
        hint = ""
        if np.isfinite(original):  # only the cast to a narrower float made it infinite
            hint = f" (finite in the input, but too large for {np.dtype(dtype).name})"
        raise ValueError(
            f"{name} contains {count} {detail} value(s) (first at {where}: "
            f"{original}){hint}; drop or fill them"
        )
    return converted


def same_length(arrays, names):
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        listed = ", ".join(f"{n}={length}" for n, length in zip(names, lengths))
        raise ValueError(f"{', '.join(names)} must have the same length; got {listed}")


def shape_2d(shape):
    if (not isinstance(shape, tuple) or len(shape) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)):
        raise ValueError(f"shape must be a pair of integers (n_users, n_items); got {shape!r}")
    n_users, n_items = int(shape[0]), int(shape[1])
    if n_users < 1 or n_items < 1:
        raise ValueError(f"shape must be positive in both dimensions; got {shape!r}")
    if max(n_users, n_items) > INT32_MAX:
        raise ValueError(
            f"shape {shape!r} exceeds {INT32_MAX} users or items, the limit of int32 indices"
        )
    return n_users, n_items


def arithmetic_range(values, name, dtype):
    """Raise if squaring and summing ``values`` could overflow ``dtype``.

    Normal equations hold sums of squared ratings; past ~sqrt(max float) / 1e4 they
    overflow to inf and the fit would turn to NaN.
    """
    if values.size == 0:
        return
    largest = float(np.max(np.abs(values)))
    if largest > arithmetic_limit(dtype):
        raise ValueError(f"{name} reach {largest:.3g}, {too_large(dtype)}; divide them by a "
                         "constant" + (" or use dtype='float64'" if np.dtype(dtype) == np.float32
                                       else ""))


def regularization(value, name, dtype):
    """A non-negative λ small enough that ``dtype`` holds it and the diagonal it joins."""
    value = non_negative_float(value, name)
    limit = float(arithmetic_limit(dtype)) ** 2
    if value > limit:
        raise ValueError(f"{name}={value:.3g} is too large for {np.dtype(dtype).name} "
                         f"arithmetic (at most ~{limit:.1g})")
    return value


def weighted_regularization(value, name, exponent, weight_base, dtype):
    """Raise unless the largest row penalty ``value · weight_base ** exponent`` (λ weighted by
    ``reg_exponent``, ``weight_base`` the largest row's n, or n + α₀·M) fits ``dtype``'s
    arithmetic, as :func:`regularization` does for λ itself."""
    limit = float(arithmetic_limit(dtype)) ** 2
    if value > 0 and weight_base > 1 and (
            math.log(value) + exponent * math.log(weight_base) > math.log(limit)):
        raise ValueError(f"{name}={value:.3g} weighted by reg_exponent={exponent:g} is too large "
                         f"for {np.dtype(dtype).name} arithmetic: the longest row's penalty "
                         f"{name} × {weight_base:.6g}^{exponent:g} passes ~{limit:.1g}; lower "
                         "reg_exponent")


def arithmetic_floor(values, name, dtype):
    """Raise if every value is so close to 0 (but not all 0) that an explicit fit's products
    underflow ``dtype``.

    Its starting factors are about √ of the ratings' size, so its right-hand sides hold
    ratings to the power 1.5: ratings of 1e-30 in float32 made them vanish, and every factor
    came out 0 without a word.
    """
    if values.size == 0:
        return
    largest = float(np.max(np.abs(values)))
    floor = smallest_rating(dtype)
    if 0.0 < largest < floor:
        raise ValueError(f"{name} reach only {largest:.3g}, too small for "
                         f"{np.dtype(dtype).name} arithmetic (products underflow below "
                         f"~{floor:.1g}); multiply them by a constant"
                         + (" or use dtype='float64'" if np.dtype(dtype) == np.float32 else ""))


def smallest_rating(dtype):
    """The smallest largest-rating an explicit fit in ``dtype`` takes (see
    :func:`arithmetic_floor`): ``100 · tiny^¾``, 4e-27 in float32."""
    return 100.0 * float(np.finfo(dtype).tiny) ** 0.75


def arithmetic_limit(dtype):
    """The largest rating or weight the normal equations of ``dtype`` can hold."""
    return np.sqrt(np.finfo(dtype).max) / 1e4


def too_large(dtype):
    return (f"too large for {np.dtype(dtype).name} arithmetic (squares overflow past "
            f"~{arithmetic_limit(dtype):.1g})")


def times(raw, name, offset=0, locate=_row):
    """A timestamp column (or a chunk of one, starting at row ``offset``) as int64 Unix
    seconds: integers, or datetime64 (NaT: missing); NaN marks a missing time.
    ``locate`` names a row in an error (``'line 12'`` of a file)."""
    stamps = np.asarray(raw)
    kind = stamps.dtype.kind
    if kind in "Mf":  # Parquet's timestamp types (NaT: null); pandas' NaN: an empty field
        missing = np.isnat(stamps) if kind == "M" else np.isnan(stamps)
        if missing.any():
            raise ValueError(f"{name} has no time in {locate(offset + int(np.argmax(missing)))} "
                             "(an empty field, a null or a short line); fill it or drop the row")
        if kind == "M":
            stamps = stamps.astype("datetime64[s]").astype(np.int64)
    if stamps.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer times; got {stamps.dtype} from "
                         f"{locate(offset)} to {locate(offset + len(stamps) - 1)}")
    if stamps.dtype == np.uint64 and len(stamps) and stamps.max() > np.iinfo(np.int64).max:
        row = int(np.argmax(stamps > np.iinfo(np.int64).max))
        raise ValueError(f"{name} holds {stamps[row]} in {locate(offset + row)}, past the largest "
                         "time int64 holds (2**63 - 1); check the column, or drop the row")
    return stamps.astype(np.int64, copy=False)
