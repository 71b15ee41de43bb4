"""Generated rating data with planted structure, for demos, tests and benchmarks.

One generator (:func:`synthetic`) serves every size: power-law item popularity,
log-normal user activity, a planted low-rank signal with user and item biases and
noise, and no duplicate pairs. Everything is vectorised.
"""

import numpy as np

from .. import _validation as v
from ..ratings import Ratings

PRESETS = {
    # name: (n_users, n_items, n_ratings)
    "ml100k": (943, 1_682, 100_000),
    "ml1m": (6_040, 3_706, 1_000_209),
    "ml20m": (138_493, 26_744, 20_000_263),
    "netflix": (480_189, 17_770, 100_480_507),
}


def seed_example(seed=0):
    """The textbook example this library grew from: 50 users × 200 movies, ratings 1..5.

    Every cell is observed and drawn uniformly from {1, …, 5}.

    Parameters
    ----------
    seed : None, int, Generator, SeedSequence or RandomState

    Returns
    -------
    ndarray of shape (50, 200), float64
    """
    rng = v.random_generator(seed, "seed")
    return rng.integers(1, 6, size=(50, 200)).astype(np.float64)


def synthetic(n_users, n_items, nnz, rank=10, seed=0, implicit=False, noise=0.3,
              popularity_exponent=0.9, dtype="float32", return_truth=False):
    """Generate a sparse rating matrix with planted low-rank structure.

    Which cells are observed: users draw their number of ratings from a log-normal
    activity distribution, items are picked with power-law (Zipf) popularity, and
    pairs are unique. Explicit values are ``3.5 + b_u + c_i + u·v + noise``
    rounded and clipped to 1..5; implicit values are counts ``1 + Poisson(e^(u·v))``.

    Parameters
    ----------
    n_users, n_items, nnz : int
        Shape and number of ratings (at most ``n_users * n_items / 2``).
    rank : int
        Rank of the planted signal.
    seed : int
        Everything is determined by it.
    implicit : bool
        Counts instead of star ratings.
    noise : float
        Standard deviation of the Gaussian noise (explicit only).
    popularity_exponent : float
        Zipf exponent of item popularity.
    dtype : {'float32', 'float64'}
    return_truth : bool
        Also return the noiseless scores' parts ``(user_factors, item_factors)``.

    Returns
    -------
    Ratings (and the planted factors with ``return_truth``)

    Examples
    --------
    >>> r = synthetic(1000, 500, 20_000, seed=1)
    >>> r.shape, r.nnz
    ((1000, 500), 20000)
    """
    n_users = v.positive_int(n_users, "n_users")
    n_items = v.positive_int(n_items, "n_items")
    v.shape_2d((n_users, n_items))  # before anything of that size is drawn
    nnz = v.positive_int(nnz, "nnz")
    rank = v.positive_int(rank, "rank")
    v.float_dtype(dtype)
    v.boolean(implicit, "implicit")
    v.boolean(return_truth, "return_truth")
    noise = v.non_negative_float(noise, "noise")
    popularity_exponent = v.non_negative_float(popularity_exponent, "popularity_exponent")
    if popularity_exponent > _MAX_EXPONENT:
        raise ValueError(f"popularity_exponent must be at most {_MAX_EXPONENT} (real data sets "
                         f"have about 0.5 to 1.5); got {popularity_exponent}")
    if nnz > n_users * n_items // 2:
        raise ValueError(f"nnz={nnz} is more than half of the {n_users} × {n_items} cells; "
                         "a sparse generator cannot place that many unique pairs")
    _check_memory(n_users, n_items, nnz, rank)
    rng = v.random_generator(seed, "seed")
    users, items = _unique_pairs(rng, n_users, n_items, nnz, popularity_exponent)
    user_factors = rng.standard_normal((n_users, rank)) * (0.8 / np.sqrt(rank))
    item_factors = rng.standard_normal((n_items, rank))
    scores = _rowwise_dot(user_factors, item_factors, users, items)
    if implicit:
        values = 1.0 + rng.poisson(np.exp(np.clip(scores, -10, 5)))
    else:
        user_bias = rng.normal(0.0, 0.3, n_users)
        item_bias = rng.normal(0.0, 0.4, n_items)
        values = 3.5 + user_bias[users] + item_bias[items] + scores
        values += rng.normal(0.0, noise, nnz)
        values = np.clip(np.rint(values), 1, 5)
    ratings = Ratings.from_coo(users, items, values, shape=(n_users, n_items), dtype=dtype)
    if return_truth:
        return ratings, (user_factors, item_factors)
    return ratings


def preset(name, seed=0, implicit=False, dtype="float32", scale=1.0):
    """:func:`synthetic` with the shape of a known data set (see ``PRESETS``).

    Parameters
    ----------
    name : str
        A key of ``PRESETS`` (users, items, ratings of the data set).
    seed, implicit, dtype
        As in :func:`synthetic` (rank 10).
    scale : float
        Multiplies the number of ratings (e.g. 0.05 for a quick run).

    Returns
    -------
    Ratings
    """
    if not isinstance(name, str) or name not in PRESETS:  # a list: 'unhashable type'
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if v.non_negative_float(scale, "scale") == 0:
        raise ValueError("scale must be positive (it multiplies the number of ratings)")
    n_users, n_items, nnz = PRESETS[name]
    return synthetic(n_users, n_items, max(1, int(nnz * scale)), rank=10, seed=seed,
                     implicit=implicit, dtype=dtype)


_MAX_EXPONENT = 4.0
_STALLED_ROUNDS = 50


def _check_memory(n_users, n_items, nnz, rank):
    """MemoryError before drawing when the planted factors and the pairs cannot fit (a
    shape of 3e9 users spent minutes allocating, 1e12 failed in numpy)."""
    from .._memory import require

    need = 8 * (rank + 2) * (n_users + n_items) + 64 * nnz  # float64 factors and biases, pairs
    require(need, lambda need_gib, available_gib: (
        f"synthetic({n_users:,}, {n_items:,}, {nnz:,}, rank={rank}) needs about "
        f"{need_gib:.1f} GiB but {available_gib:.1f} GiB is available"))


def _rowwise_dot(a, b, rows, cols, chunk=1 << 21):
    out = np.empty(len(rows))
    for start in range(0, len(rows), chunk):
        stop = start + chunk
        out[start:stop] = np.einsum("ij,ij->i", a[rows[start:stop]], b[cols[start:stop]])
    return out


def _unique_pairs(rng, n_users, n_items, nnz, exponent):
    """``nnz`` distinct (user, item) pairs drawn by activity × popularity."""
    activity = rng.lognormal(0.0, 1.0, n_users)
    activity /= activity.sum()
    popularity = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** exponent
    popularity = rng.permutation(popularity / popularity.sum())
    keys = np.empty(0, dtype=np.int64)
    stalled = 0  # rounds in a row that found no new pair
    while len(keys) < nnz:
        need = nnz - len(keys)
        draw = int(need * 1.2) + 16
        users = rng.choice(n_users, size=draw, p=activity)
        items = rng.choice(n_items, size=draw, p=popularity)
        before = len(keys)
        keys = _merged_unique(keys, users.astype(np.int64) * n_items + items)
        stalled = stalled + 1 if len(keys) == before else 0
        if stalled == _STALLED_ROUNDS:
            raise ValueError(f"could not place {nnz} unique pairs: {_STALLED_ROUNDS} rounds of "
                             f"draws found no free cell (popularity_exponent={exponent}); ask "
                             "for fewer ratings or a flatter popularity")
    keys = rng.choice(keys, size=nnz, replace=False) if len(keys) > nnz else keys
    keys.sort()
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def _merged_unique(keys, new):
    """The sorted distinct values of ``keys`` (sorted, distinct) and ``new``.

    ``new`` is sorted alone and then merged: a stable sort (timsort) of two sorted runs
    is a linear merge, where sorting the whole concatenation again at every round of
    draws took 12 of the 27 s of the ml20m preset. np.unique's hash path is several
    times slower than a sort for int64 keys.
    """
    new.sort()
    keys = np.concatenate([keys, new])
    keys.sort(kind="stable")
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]
