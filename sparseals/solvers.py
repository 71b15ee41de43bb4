"""Public half-step functions, for callers that run their own ALS loop (e.g. Dask).

One half-step recomputes every row of one side with the other side held fixed.
The functions here validate their arguments and then call the numba kernels;
the models call the unchecked ``_``-prefixed versions after validating once.
"""

import numbers

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from . import _validation as v
from ._threads import kernel_threads
from .ratings import Compressed

__all__ = ["explicit_half_step", "implicit_half_step"]

_CONFIDENCES = {"linear", "raw"}
_IMPLICIT_SOLVERS = {"cg", "cholesky"}


def explicit_half_step(rows, other_factors, *, regularization, reg_exponent=0.0,
                       other_biases=None, global_mean=0.0, nonnegative=False,
                       initial=None, num_threads=None):
    """Solve every row's regularised least-squares problem with the other side fixed.

    Row i of ``rows`` (a user, for a CSR of users × items) gets
    ``argmin_x Σ_j (r_ij − μ − c_j − x·y_j)² + λ n_i^ν ‖x‖²`` over its stored
    entries only, where ``y_j`` are the rows of ``other_factors``. With
    ``other_biases`` given, each row also gets its own bias (the unknown is
    ``[x, b]`` and the bias is regularised alike).

    Parameters
    ----------
    rows : scipy.sparse matrix or Compressed
        The ratings with one row per factor row to compute (CSR for users, the
        CSC's arrays / the transposed CSR for items). A pair stored twice counts once,
        with the sum of its values (as scipy sums duplicates).
    other_factors : ndarray, shape (n_cols, K)
        Fixed factors of the other side, float32 or float64; the result has its dtype.
    regularization : float
        λ ≥ 0.
    reg_exponent : float
        ν: 0 for plain λ, 1 for the weighted-λ of ALS-WR.
    other_biases : ndarray of shape (n_cols,), optional
        Fixed biases of the other side; when given, row biases are fitted too.
    global_mean : float
        μ, subtracted from every rating (used with biases).
    nonnegative : bool
        Constrain the factors (not the bias) to be ≥ 0 (per-row NNLS).
    initial : ndarray of shape (n_rows, K), optional
        Starting point of the non-negative solver (default zeros), e.g. the current
        factors: its positive entries start free of the bound, so a nearby start takes
        fewer active-set steps to the same solution. Checked, but not used, without
        ``nonnegative``.
    num_threads : int, optional
        Threads for the parallel loops, as for the models (default or 0: all numba may
        use; −1 all, −2 all but one). Results do not depend on it.

    Returns
    -------
    factors : ndarray, shape (n_rows, K)
    biases : ndarray of shape (n_rows,) or None
        ``None`` unless ``other_biases`` was given.
    n_singular : int
        Rows whose system was singular and were solved with a tiny ridge.
    """
    rows, other_factors, reg, nu = _checked_step_arguments(rows, other_factors, regularization,
                                                           reg_exponent)
    dtype = other_factors.dtype
    v.weighted_regularization(reg, "regularization", nu, _longest_row(rows), dtype)
    n_rows = len(rows.indptr) - 1
    if other_biases is not None:
        other_biases = v.value_array(other_biases, "other_biases", dtype)
        if len(other_biases) != other_factors.shape[0]:
            raise ValueError(f"other_biases has length {len(other_biases)}; expected "
                             f"{other_factors.shape[0]} (one per row of other_factors)")
    if (isinstance(global_mean, (bool, np.bool_)) or not isinstance(global_mean, numbers.Real)
            or not abs(float(global_mean)) <= float(v.arithmetic_limit(dtype))):  # NaN fails
        raise ValueError(f"global_mean must be a finite number within {dtype.name} arithmetic "
                         f"(|μ| ≤ ~{v.arithmetic_limit(dtype):.1g}); got {global_mean!r}")
    nonnegative = v.boolean(nonnegative, "nonnegative")
    factors = _starting_factors(initial, n_rows, other_factors.shape[1], dtype)
    biases = None if other_biases is None else np.empty(n_rows, dtype=dtype)
    n_singular = _explicit_step(rows, other_factors, other_biases, float(global_mean), factors,
                                biases, reg, nu, nonnegative, num_threads)
    return factors, biases, n_singular


def _starting_factors(initial, n_rows, k, dtype):
    """A C-contiguous array of ``initial``'s values (checked) that the half-step may
    overwrite, or zeros when it is None: one copy at most, never the caller's array."""
    if initial is None:
        return np.zeros((n_rows, k), dtype=dtype)
    initial = np.asarray(initial)
    if initial.shape != (n_rows, k):
        raise ValueError(f"initial has shape {initial.shape}; expected {(n_rows, k)} "
                         "(one row per row of rows, K columns)")
    checked = v.finite_real(initial, "initial", dtype)  # a copy only if the dtype differs
    if checked is initial or not checked.flags.c_contiguous:
        checked = np.array(checked, order="C")
    return checked


def _checked_step_arguments(rows, other_factors, regularization, reg_exponent):
    """What both public half-steps check: the fixed factors, the rows, λ and ν."""
    other_factors = v.native(np.asarray(other_factors))
    if other_factors.ndim != 2 or other_factors.shape[1] == 0:
        raise ValueError(f"other_factors must be 2-D (n_cols, K) with K ≥ 1; got shape "
                         f"{other_factors.shape}")
    dtype = v.float_dtype(other_factors.dtype, "other_factors' dtype")
    other_factors = np.ascontiguousarray(v.finite_real(other_factors, "other_factors", dtype))
    v.arithmetic_range(other_factors, "other_factors", dtype)  # their squares fill the systems
    rows = _as_compressed(rows, other_factors.shape[0], dtype)
    reg = v.regularization(regularization, "regularization", dtype)
    nu = v.non_negative_float(reg_exponent, "reg_exponent")
    return rows, other_factors, reg, nu


def _check_gram(gram):
    """Raise unless ``gram`` could be YᵀY: symmetric and positive semi-definite, up to
    rounding (only its lower triangle is read, and negative eigenvalues were clipped)."""
    scale = float(np.abs(gram).max(initial=0.0))
    tolerance = 100 * len(gram) * np.finfo(gram.dtype).eps * max(scale, np.finfo(gram.dtype).tiny)
    asymmetry = float(np.abs(gram - gram.T).max(initial=0.0))
    if asymmetry > tolerance:
        raise ValueError(f"other_gram is not symmetric (entries differ from their transposes "
                         f"by up to {asymmetry:.3g}); give the whole Yᵀ Y")
    lowest = float(np.linalg.eigvalsh(gram.astype(np.float64))[0])
    if lowest < -tolerance:
        raise ValueError(f"other_gram has a negative eigenvalue ({lowest:.3g}); Yᵀ Y never has")


def _longest_row(rows):
    return int(np.diff(rows.indptr).max(initial=0))


def _as_compressed(rows, n_cols, dtype):
    if sp.issparse(rows):
        if rows.ndim != 2 or rows.shape[1] != n_cols:
            raise ValueError(f"rows has shape {rows.shape}; expected (n_rows, {n_cols}) to match "
                             "other_factors")
        # before scipy's own routines walk a malformed matrix
        v.sparse_structure(rows, "rows", "rows", "rows of other_factors")
        csr = rows.tocsr()
        if not csr.has_canonical_format:
            csr = csr.copy()  # sum_duplicates works in place: leave the caller's matrix alone
            csr.sum_duplicates()
        nnz = csr.nnz  # scipy's arrays may run past the last entry
        indptr, indices = csr.indptr, csr.indices[:nnz]  # checked above, or made by scipy
        rows = Compressed(indptr, indices, csr.data[:nnz])
    elif isinstance(rows, Compressed):
        indptr = v.id_array(rows.indptr, "rows.indptr")
        indices = v.id_array(rows.indices, "rows.indices")
        if indptr.size == 0:
            raise ValueError("rows.indptr is empty; it has one entry per row, plus one")
        nnz = v.compressed_structure(indptr, indices, indptr.size - 1, n_cols, "rows",
                                     "rows of other_factors")
        if nnz != indices.size:
            raise ValueError(f"rows.indptr ends at {nnz}; a Compressed triple's must end at "
                             f"len(rows.indices) = {indices.size}")
        view = sp.csr_matrix((np.asarray(rows.data), indices, indptr),
                             shape=(indptr.size - 1, n_cols), copy=False)
        if not view.has_canonical_format:  # a pair given twice: summed, as for scipy input
            return _as_compressed(view, n_cols, dtype)
    else:
        raise TypeError(f"rows must be a scipy.sparse matrix or a Compressed triple; got "
                        f"{type(rows).__name__}")
    data = v.value_array(rows.data, "rows.data", dtype)
    if data.size != indices.size:
        raise ValueError(f"rows.data has {data.size} values for {indices.size} indices")
    return Compressed(indptr, indices, data)


def _explicit_step(rows, other, other_bias, shift, target, target_bias, reg, reg_exponent,
                   nonnegative, num_threads, row_losses=None):
    """Unchecked sparse half-step: fills ``target`` (and ``target_bias``) in place.

    With ``nonnegative``, ``target``'s rows on entry are the NNLS starting points (their
    positive entries start free of the bound): the current factors, or zeros.

    ``row_losses`` (float64, one per row), if given, receives each row's sum of squared
    residuals at its new factors, for the rows of at most
    :func:`_explicit_gathered_rows` ratings (NaN for longer rows).
    """
    from ._kernels.explicit import BLOCK, allocate_scratch, half_step

    use_bias = target_bias is not None
    dtype = target.dtype
    dim = other.shape[1] + int(use_bias)
    if not use_bias:  # the kernel reads these only with biases, but numba needs arrays
        other_bias = target_bias = np.zeros(1, dtype=dtype)
    import numba

    # numba thread ids may range over the whole pool, whatever the count in use
    gather = BLOCK if row_losses is None else _explicit_gathered_rows(dim, dtype)
    scratch, nnls_scratch = allocate_scratch(numba.config.NUMBA_NUM_THREADS, dim, dtype,
                                             nonnegative, gather)
    singular = np.zeros(len(target), dtype=np.int8)
    row_losses = np.empty(0) if row_losses is None else row_losses
    with kernel_threads(num_threads):
        half_step(rows.indptr, rows.indices, rows.data, other, other_bias, dtype.type(shift),
                  target, target_bias, reg, reg_exponent, use_bias, scratch, nnls_scratch,
                  singular, row_losses)
    return int(np.count_nonzero(singular))


def _explicit_gathered_rows(dim, dtype):
    """Ratings of a row that an explicit half-step asked for its residuals keeps gathered
    (the implicit CG's gather budget): longer rows' residuals are not taken there."""
    from ._kernels.implicit import gather_rows

    return gather_rows(dim, dtype)


def _dense_explicit_step(values, other, other_bias, shift, target, target_bias, reg,
                         reg_exponent, num_threads):
    """Half-step for a fully observed matrix: one shared K × K system, many right-hand sides.

    ``values`` is the dense (n_rows, n_cols) rating matrix. Returns the number of rows
    whose system was singular and got a ridge: all or none, as they share one. The
    right-hand sides and solves go by :func:`_by_row_blocks`, so the result does not
    depend on the thread count.
    """
    from ._kernels.explicit import bias_scale
    from ._kernels.solve import FAILED, OK, factor_with_ridge

    use_bias = target_bias is not None
    k = other.shape[1]
    with kernel_threads(num_threads) as n_threads:
        design = other
        offset = shift  # subtracted from every rating of a row
        scale = 1.0  # the bias is solved for as bias / scale (exact: a power of two)
        if use_bias:
            design = np.hstack([other, np.ones((other.shape[0], 1), dtype=other.dtype)])
            offset = shift + other_bias
        gram = design.T @ design
        gram[np.diag_indices_from(gram)] += reg * other.shape[0] ** reg_exponent
        if use_bias:  # the bias entry brought to the factors' size, as the kernel does
            scale = bias_scale(float(np.trace(gram[:k, :k], dtype=np.float64)), k,
                               float(gram[k, k]))
            gram[k] *= scale
            gram[:, k] *= scale
            design[:, k] = scale
        # the kernels' factorisation, singular pivots and ridge included: scipy's
        # cho_factor took float32 rounding for pivots, and λ = 0 fits with more factors
        # than columns grew their factors each iteration until they overflowed
        lower = np.zeros_like(gram)
        status = factor_with_ridge(gram, len(gram), lower)

        def solve(start, stop, thread):
            if status == FAILED:
                solution = np.zeros((stop - start, len(gram)), dtype=target.dtype)
            else:
                targets = values[start:stop] - offset if np.any(offset) else values[start:stop]
                solution = scipy.linalg.cho_solve((lower, True), (targets @ design).T).T
            target[start:stop] = solution[:, :k]
            if use_bias:
                target_bias[start:stop] = solution[:, k] * scale

        _by_row_blocks(len(values), n_threads, solve)
    return len(values) if status != OK else 0  # every row shares the singular system


def implicit_half_step(rows, other_factors, *, regularization, alpha=1.0, unobserved_weight=1.0,
                       reg_exponent=0.0, confidence="linear", solver="cholesky", cg_steps=3,
                       initial=None, other_gram=None, n_other=None, num_threads=None):
    """One implicit-feedback half-step (Hu, Koren & Volinsky 2008) with the other side fixed.

    Row i of ``rows`` gets the minimiser (``solver="cholesky"``) or ``cg_steps``
    conjugate-gradient steps towards it (``solver="cg"``, started from
    ``initial``) of ``Σ_all j c_ij (p_ij − x·y_j)² + λ_i ‖x‖²``, i.e. the solution of
    ``(α₀ YᵀY + Σ_(j∈Ω_i) (c_ij − α₀) y_j y_jᵀ + λ_i I) x = Σ_(j∈Ω_i) c_ij p_ij y_j``
    where ``y_j`` are the rows of ``other_factors``, α₀ is ``unobserved_weight``,
    ``p_ij = 1 if r_ij > 0 else 0`` and ``λ_i = λ (n_i + α₀ M)^ν`` (M columns).

    Parameters
    ----------
    rows : scipy.sparse matrix or Compressed
        The interactions with one row per factor row to compute (users × items
        for the user step, its transpose for the item step). A pair stored twice
        counts once, with the sum of its values.
    other_factors : ndarray, shape (n_cols, K)
        Fixed factors of the other side, float32 or float64; the result has its dtype.
    regularization : float
        λ ≥ 0.
    alpha : float
        α ≥ 0, the confidence scale.
    unobserved_weight : float
        α₀ ≥ 0, the confidence of every cell that is not stored.
    reg_exponent : float
        ν: λ_i = λ (n_i + α₀ M)^ν (Rendle et al. 2021); 0 for plain λ.
    confidence : {'linear', 'raw'}
        ``'linear'``: c = 1 + α r (Hu et al.; values must be ≥ 0).
        ``'raw'``: c = α |r|, the stored value is the confidence, as in the
        `implicit` library (a negative value means preference 0 with confidence
        α |r|; a stored 0 removes the cell).
    solver : {'cholesky', 'cg'}
        Exact solve, or conjugate gradient (Takács, Pilászy & Tikk 2011).
    cg_steps : int
        Conjugate-gradient steps per row (``solver="cg"``).
    initial : ndarray of shape (n_rows, K), optional
        Starting point of the CG steps (default zeros); ignored by Cholesky.
    other_gram : ndarray of shape (K, K), optional
        ``YᵀY`` of the *whole* other side (not scaled by α₀), for a blocked fit
        (``sparseals.distributed``) whose ``other_factors`` hold only the rows
        that ``rows`` references (its column indices then point into those rows).
        Default ``other_factorsᵀ other_factors``.
    n_other : int, optional
        Rows of the whole other side (M in λ_i); default ``len(other_factors)``.
        Given together with ``other_gram`` (both or neither); ``other_gram`` must be
        symmetric and positive semi-definite up to rounding, as ``YᵀY`` is.
    num_threads : int, optional
        Threads for the parallel loops, as for the models (default or 0: all numba may
        use; −1 all, −2 all but one). Results do not depend on it.

    Returns
    -------
    factors : ndarray, shape (n_rows, K)
    n_singular : int
        Rows whose system was singular and were solved with a tiny ridge.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> counts = sp.random(20, 30, density=0.2, format="csr", random_state=0) * 5
    >>> items = np.random.default_rng(0).standard_normal((30, 4))
    >>> users, n_singular = implicit_half_step(counts, items, regularization=0.1)
    >>> users.shape
    (20, 4)
    """
    rows, other_factors, reg, nu = _checked_step_arguments(rows, other_factors, regularization,
                                                           reg_exponent)
    dtype = other_factors.dtype
    n_rows = len(rows.indptr) - 1
    alpha = v.non_negative_float(alpha, "alpha")
    alpha0 = v.non_negative_float(unobserved_weight, "unobserved_weight")
    v.one_of(confidence, "confidence", _CONFIDENCES)
    v.one_of(solver, "solver", _IMPLICIT_SOLVERS)
    steps = v.positive_int(cg_steps, "cg_steps", v.INT32_MAX)
    _check_confidence_values(rows.data, "rows", confidence, alpha, alpha0, dtype)
    k = other_factors.shape[1]
    factors = _starting_factors(initial, n_rows, k, dtype)
    if other_gram is not None:
        other_gram = np.asarray(other_gram)
        if other_gram.shape != (k, k):
            raise ValueError(f"other_gram has shape {other_gram.shape}; expected {(k, k)} "
                             "(Yᵀ Y of the whole other side, K × K)")
        other_gram = v.finite_real(other_gram, "other_gram", dtype).astype(dtype)
        _check_gram(other_gram)
    if (other_gram is None) != (n_other is None):
        raise ValueError("other_gram and n_other describe the whole other side together: give "
                         "both (a block of it) or neither")
    if n_other is None:
        n_other = -1
    else:
        n_other = v.positive_int(n_other, "n_other", v.INT32_MAX)
        if n_other < other_factors.shape[0]:
            raise ValueError(f"n_other is {n_other} but other_factors has "
                             f"{other_factors.shape[0]} rows; give the row count of the whole "
                             "other side")
    v.weighted_regularization(reg, "regularization", nu, _longest_row(rows) + alpha0 * (
        other_factors.shape[0] if n_other < 0 else n_other), dtype)
    n_singular = _implicit_step(rows, other_factors, factors, reg, nu, alpha, alpha0, confidence,
                                solver == "cg", steps, num_threads, other_gram, n_other)
    return factors, n_singular


def _check_confidence_values(data, name, confidence, alpha, unobserved_weight, dtype,
                             at=None):
    """With linear confidence 1 + α r, a negative value would give a negative weight; and
    every weight must leave the normal equations of ``dtype`` finite. ``at`` names a
    stored position in an error (default ``'stored position k'``)."""
    if confidence == "linear" and data.size and data.min() < 0:
        first = int(np.flatnonzero(data < 0)[0])
        where = f"stored position {first}" if at is None else at(first)
        raise ValueError(f"{name} holds negative values (first at {where}: "
                         f"{data[first]}), which confidence='linear' (c = 1 + alpha * r) cannot "
                         "weight; use non-negative counts or confidence='raw'")
    limit = v.arithmetic_limit(dtype)
    if unobserved_weight > limit:
        raise ValueError(f"unobserved_weight={unobserved_weight:.3g} is {v.too_large(dtype)}")
    c0, c1 = _confidence_terms(confidence, alpha)
    largest = c0 + c1 * float(np.max(np.abs(data))) if data.size else c0
    if largest > limit:
        raise ValueError(f"the confidences reach {largest:.3g} (alpha={alpha:.3g}), "
                         f"{v.too_large(dtype)}; lower alpha or scale {name} down")


_ROTATION_ROWS = 2048
"""Rows per BLAS call of :func:`_by_row_blocks` (1 MiB of float32 at K = 128)."""


def _by_row_blocks(n_rows, n_threads, work):
    """Call ``work(start, stop, thread)`` on the fixed blocks of ``_ROTATION_ROWS`` rows
    of ``range(n_rows)``, dealt round-robin to ``n_threads`` Python threads (numpy
    releases the GIL in BLAS and LAPACK).

    Inside ``kernel_threads`` BLAS runs on one thread, so this spreads the products
    over the cores without waking BLAS's own threads, whose spinning after a call slows
    the numba kernel that follows, and without a numba kernel to compile. The blocks do
    not depend on ``n_threads``, and neither does the result: a BLAS call on its own
    threads splits the work by their count and rounds differently.
    """
    n_blocks = -(-n_rows // _ROTATION_ROWS)
    n_threads = max(1, min(n_threads, n_blocks))

    def run(thread):
        for block in range(thread, n_blocks, n_threads):
            start = block * _ROTATION_ROWS
            work(start, min(start + _ROTATION_ROWS, n_rows), thread)

    if n_threads == 1:
        run(0)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(run, range(n_threads)))  # list(): raise what a block raised


def _rotated(factors, basis, out, n_threads):
    """``out = factors @ basis`` by :func:`_by_row_blocks`; ``out`` may be ``factors``
    itself (one block of scratch per thread, not a second copy of the factors).
    Returns ``out``."""
    in_place = out is factors
    n_threads = max(1, min(n_threads, -(-len(factors) // _ROTATION_ROWS)))
    scratch = np.empty((n_threads if in_place else 0, _ROTATION_ROWS, basis.shape[1]),
                       dtype=out.dtype)

    def rotate(start, stop, thread):
        rotated = scratch[thread, :stop - start] if in_place else out[start:stop]
        np.matmul(factors[start:stop], basis, out=rotated)
        if in_place:
            out[start:stop] = rotated

    _by_row_blocks(len(factors), n_threads, rotate)
    return out


def _confidence_terms(confidence, alpha):
    """(c0, c1) with c = |c0 + c1 r|."""
    return (1.0, alpha) if confidence == "linear" else (0.0, alpha)


def _plan_long_rows(rows, transposed, factors, dtype):
    """The rows of ``rows`` that the CG solver with ``factors`` of ``dtype`` cannot
    gather, with their entries in the order of ``transposed`` (the same interactions
    with one row per column of ``rows``), for :func:`_implicit_step`; None if none.
    A plan holds 2-4 bytes plus one value per entry of those rows: make it once per fit.
    """
    from ._kernels.implicit import gather_rows
    from ._kernels.long_rows import plan_long_rows

    return plan_long_rows(rows, transposed, gather_rows(factors, dtype))


def _implicit_step(rows, other, target, reg, reg_exponent, alpha, alpha0, confidence, use_cg,
                   cg_steps, num_threads, other_gram=None, n_other=-1, row_losses=None,
                   long_rows=None, rotate_other_in_place=False):
    """Unchecked implicit half-step: fills ``target`` in place (it is the CG start).

    ``other_gram`` (``otherᵀ other`` of the whole other side) and ``n_other`` (its
    row count) are for blocks that hold only the other side's rows they reference.
    ``row_losses`` (float64, one per row), if given, receives each row's observed part
    of the loss at its new factors.
    ``long_rows`` (from :func:`_plan_long_rows` for these ``rows``), if given, lets
    the CG solver take the rows too long to gather in lockstep
    (:mod:`sparseals._kernels.long_rows`).

    The kernels see both sides rotated into the eigenvector basis of G = α₀ YᵀY (a
    rotated copy of ``other``; ``target`` in place), where G is diagonal, and ``target``
    is rotated back at the end (:mod:`sparseals._kernels.implicit`).
    ``rotate_other_in_place`` rotates ``other`` itself, and back, instead of a copy of
    it: a fit's half-steps save a copy of the larger side that way (its rows then
    change by rounding, and a failure in between leaves them rotated: the fit restores
    them). The public half-step never rotates its caller's array.
    """
    import numba

    from ._kernels.implicit import allocate_scratch, cg_half_step, exact_half_step
    from ._kernels.long_rows import long_rows_cg

    dtype = target.dtype
    c0, c1 = _confidence_terms(confidence, alpha)
    # one BLAS thread even for these products: OpenBLAS's idle threads spin for a while
    # after a parallel call and would slow the numba kernel that follows (measured:
    # 35 ms of a 75 ms half-step on ml1m-shaped data at K = 128)
    with kernel_threads(num_threads) as n_threads:
        gram = other.T @ other if other_gram is None else other_gram
        # the kernels work in the eigenvector basis of G = α₀ YᵀY, where G is diagonal
        eigenvalues, basis = np.linalg.eigh(alpha0 * gram.astype(np.float64))
        gram_diagonal = np.maximum(eigenvalues, 0.0).astype(dtype)  # G is semi-definite
        basis = basis.astype(dtype)
        rotated = other if rotate_other_in_place else np.empty(other.shape, dtype=dtype)
        other = _rotated(other, basis, rotated, n_threads)
        if use_cg:  # the CG start; the exact solver does not read target
            _rotated(target, basis, target, n_threads)
    # numba thread ids may range over the whole pool, whatever the count in use; a
    # long-row plan was made for the full gather block
    longest = None if long_rows is not None else int(np.diff(rows.indptr).max(initial=0))
    scratch = allocate_scratch(numba.config.NUMBA_NUM_THREADS, other.shape[1], dtype, use_cg,
                               longest)
    row_losses = np.empty(0) if row_losses is None else row_losses
    defer_long = bool(use_cg) and long_rows is not None
    if defer_long and (long_rows.n_rows != len(target) or len(long_rows.ptr) != len(other) + 1
                       or long_rows.threshold != scratch[0].shape[1]
                       or not np.array_equal(np.diff(rows.indptr)[long_rows.rows],
                                             long_rows.lengths)):
        raise ValueError("long_rows was planned for other rows, another other side or "
                         "another gather size")
    common = (rows.indptr, rows.indices, rows.data, other, gram_diagonal, target, dtype.type(reg),
              float(reg_exponent), dtype.type(c0), dtype.type(c1), dtype.type(alpha0),
              int(n_other))
    singular = np.zeros(0 if use_cg else len(target), dtype=np.int8)
    with kernel_threads(num_threads) as n_threads:
        if use_cg:
            cg_half_step(*common, int(cg_steps), scratch, row_losses, defer_long)
        else:
            exact_half_step(*common, scratch, row_losses, singular)
        if defer_long:
            long_rows_cg(long_rows, other, gram_diagonal, target, dtype.type(reg),
                         float(reg_exponent), len(other) if n_other < 0 else int(n_other),
                         dtype.type(c0), dtype.type(c1), dtype.type(alpha0), int(cg_steps),
                         row_losses)
        back = np.ascontiguousarray(basis.T)
        _rotated(target, back, target, n_threads)
        if rotate_other_in_place:
            _rotated(other, back, other, n_threads)
    return int(np.count_nonzero(singular))
