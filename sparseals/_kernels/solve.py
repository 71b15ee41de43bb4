"""Small dense solvers used once per row inside the half-step kernels.

All work in place on caller-provided scratch (no allocation) and only read the
leading ``n`` × ``n`` block, so one scratch buffer serves rows of any size.
"""

import numpy as np
from numba import njit

from ._options import INNER
from .loss import _dot

OK = 0
JITTERED = 1
"""Status of a row solve: ``JITTERED`` means the system was singular (e.g. λ = 0 and
fewer ratings than factors) and was solved with a tiny ridge added to the diagonal."""
FAILED = 2
"""Status of :func:`factor_with_ridge` alone: no ridge made the matrix factor."""


@njit(**INNER)
def cholesky(a, n):
    """Factor the lower triangle of ``a[:n, :n]`` in place; False if not positive definite.

    Column by column; the entries below the diagonal are dot products with the pivot
    row, taken four rows at a time so that each load of the pivot row serves four of
    them (1.4–1.8× faster than one at a time at n = 64–128).

    A pivot at or below ``n · eps · max(diagonal)`` also counts as not positive
    definite: that is rounding left over from a singular matrix, and dividing by it
    gave solutions of 1e9–1e19 (a rank-one implicit system with λ = 0).
    """
    largest = 0.0
    for j in range(n):
        largest = max(largest, a[j, j])
    tolerance = n * np.finfo(a.dtype).eps * largest
    for j in range(n):
        pivot = a[j]
        d = pivot[j]
        for k in range(j):
            d -= pivot[k] * pivot[k]
        if not d > tolerance:  # also catches NaN
            return False
        d = np.sqrt(d)
        pivot[j] = d
        i = j + 1
        while i + 4 <= n:
            r0 = a[i]
            r1 = a[i + 1]
            r2 = a[i + 2]
            r3 = a[i + 3]
            s0 = r0[j]
            s1 = r1[j]
            s2 = r2[j]
            s3 = r3[j]
            for k in range(j):
                v = pivot[k]
                s0 -= r0[k] * v
                s1 -= r1[k] * v
                s2 -= r2[k] * v
                s3 -= r3[k] * v
            r0[j] = s0 / d
            r1[j] = s1 / d
            r2[j] = s2 / d
            r3[j] = s3 / d
            i += 4
        while i < n:
            row = a[i]
            s = row[j]
            for k in range(j):
                s -= row[k] * pivot[k]
            row[j] = s / d
            i += 1
    return True


@njit(**INNER)
def _forward_substitute(l, n, x):
    """Solve ``L y = x`` in place for the lower-triangular ``l[:n, :n]``."""
    for i in range(n):
        row = l[i]
        s = x[i]
        for k in range(i):
            s -= row[k] * x[k]
        x[i] = s / row[i]


@njit(**INNER)
def cholesky_solve(l, n, x):
    """Solve ``L Lᵀ x = x`` in place, ``L`` the factor from :func:`cholesky`."""
    _forward_substitute(l, n, x)
    # Lᵀ x = y by columns of Lᵀ, i.e. rows of L: contiguous reads instead of a column
    # walk down L (3-4x faster at K = 64-128)
    for i in range(n - 1, -1, -1):
        xi = x[i] / l[i, i]
        x[i] = xi
        row = l[i]
        for k in range(i):
            x[k] -= row[k] * xi


@njit(**INNER)
def _copy_lower(src, dst, n):
    for i in range(n):
        for j in range(i + 1):
            dst[i, j] = src[i, j]


@njit(**INNER)
def _ridge(a, n):
    """A ridge small against the matrix's scale (1e3·eps·its mean diagonal entry; 1e3·eps
    for a zero diagonal), for singular systems.

    Not at least 1e3·eps: that floor sized the ridge of a matrix whose entries are all
    far below 1 for the floor instead (factor rows of 10⁻², float32), and it decided the
    solution, zero for such a matrix's singular rows instead of their exact fit.
    """
    trace = 0.0
    for i in range(n):
        trace += abs(a[i, i])
    eps = np.finfo(a.dtype).eps
    return (trace / n if trace > 0.0 else 1.0) * eps * 1e3


@njit(**INNER)
def factor_with_ridge(a, n, work):
    """The Cholesky factor of ``a[:n, :n]`` (symmetric, lower triangle read) in the lower
    triangle of ``work``, an n × n scratch matrix: ``OK``. A matrix that is not positive
    definite (:func:`cholesky`'s rule) is factored with :func:`_ridge` added to its
    diagonal, grown a hundredfold until it factors: ``JITTERED``; ``FAILED`` if it never
    does (non-finite entries).
    """
    _copy_lower(a, work, n)
    if cholesky(work, n):
        return OK
    ridge = _ridge(a, n)
    for attempt in range(12):
        _copy_lower(a, work, n)
        for i in range(n):
            work[i, i] += ridge
        if cholesky(work, n):
            return JITTERED
        ridge *= 100.0
    return FAILED


@njit(**INNER)
def spd_solve(a, n, x, work):
    """Solve ``a[:n, :n] x = x`` (symmetric, lower triangle read) in place, by
    :func:`factor_with_ridge` into ``work`` (x = 0 if it fails); returns ``OK`` or
    ``JITTERED``."""
    status = factor_with_ridge(a, n, work)
    if status == FAILED:
        for i in range(n):
            x[i] = 0.0
        return JITTERED
    cholesky_solve(work, n, x)
    return status


@njit(**INNER)
def cg_step_length(rs, p, ap, k, scale):
    """The conjugate-gradient step ``rs / pᵀAp`` along ``p`` (``ap = A p``), or 0: stop.

    It stops when ``pᵀAp`` is NaN or at most ``k · eps · scale · pᵀp``, with ``scale``
    the largest diagonal entry of ``A``'s dense part (G + λ I): ``p`` then lies in the
    numerical null space of a singular system (λ = 0 and a rank-deficient G), and the
    step divided by rounding sent the factors to 1e20 (found by test_fuzz).
    """
    pap = _dot(p, ap, k)
    if not pap > k * np.finfo(p.dtype).eps * scale * _dot(p, p, k):
        return 0.0
    return rs / pap


@njit(**INNER)
def _solve_passive_afresh(a, b, n, passive, z, sub, work, idx):
    """z = argmin of the quadratic over the passive variables, others held at 0."""
    m = np.int64(0)  # not a literal 0: that would compile the callees once more
    for i in range(n):
        if passive[i]:
            idx[m] = i
            m += 1
    for p in range(m):
        for q in range(p + 1):
            sub[p, q] = a[idx[p], idx[q]]
    for i in range(n):
        z[i] = 0.0
    if m == 0:
        return OK
    rhs = work[m]  # the row after the m × m block is free
    for p in range(m):
        rhs[p] = b[idx[p]]
    status = spd_solve(sub, m, rhs, work)
    for p in range(m):
        z[idx[p]] = rhs[p]
    return status


@njit(**INNER)
def _append_variable(a, j, chol, idx, m, tolerance):
    """Extend ``chol[:m, :m]``, the Cholesky factor of ``a[idx[:m], idx[:m]]``, by
    variable ``j`` (O(m²): one forward substitution); returns the new size, or -1 if
    the extended matrix is not positive definite: its new pivot at or below
    ``tolerance``, :func:`cholesky`'s rounding level (a pivot of rounding, accepted
    when the test was ``> 0``, sent a λ = 0 float32 fit's loss from 1 to 9e5)."""
    row = chol[m]
    for p in range(m):
        i = idx[p]
        row[p] = a[i, j] if i >= j else a[j, i]  # lower triangle read
    _forward_substitute(chol, m, row)  # the new row of the factor: L r = a[idx, j]
    d = a[j, j]
    for p in range(m):
        d -= row[p] * row[p]
    if not d > tolerance:  # also catches NaN
        return -1
    row[m] = np.sqrt(d)
    idx[m] = j
    return m + 1


@njit(**INNER)
def _remove_variable(chol, idx, m, j, column):
    """Drop variable ``j`` from the factor ``chol[:m, :m]`` of ``a[idx[:m], idx[:m]]``
    in place (O(m²)); returns the new size. The rows after it lose its column, and the
    block they leave, ``L₃₃``, becomes the factor of ``L₃₃ L₃₃ᵀ + c cᵀ`` (``c`` the dropped
    column below the diagonal) by Givens rotations: an update, which stays stable."""
    p = 0
    while idx[p] != j:
        p += 1
    for i in range(p + 1, m):
        source = chol[i]
        column[i - p - 1] = source[p]
        target = chol[i - 1]
        for q in range(p):
            target[q] = source[q]
        for q in range(p + 1, i + 1):
            target[q - 1] = source[q]
        idx[i - 1] = idx[i]
    for t in range(m - 1 - p):
        d = p + t
        pivot = chol[d, d]
        r = np.sqrt(pivot * pivot + column[t] * column[t])
        cos = r / pivot
        sin = column[t] / pivot
        chol[d, d] = r
        for u in range(t + 1, m - 1 - p):
            row = chol[p + u]
            row[d] = (row[d] + sin * column[u]) / cos
            column[u] = cos * column[u] - sin * row[d]
    return m - 1


@njit(**INNER)
def _most_violated(a, b, n, n_bounded, x, passive, w, relative_tol, b_max, a_max, skip):
    """The bound variable at zero, other than ``skip``, with the largest component of the
    negative gradient ``w = b − A x``, or -1 if none is above the rounding level of ``w``
    (x is optimal): ``relative_tol × max(max |b|, max a_ii × max |x|)``, the scale of its
    two terms (at least the dtype's smallest normal number: a fixed floor of 1e-30 was
    above the gradient of small problems, ratings of 10⁻⁶⁰ in float64, whose solution then
    stayed 0)."""
    x_max = 0.0
    for i in range(n):
        w[i] = b[i]
    for k in range(n):  # x is zero off the passive set: only those columns of A count
        xk = x[k]
        if xk == 0.0:
            continue
        x_max = max(x_max, abs(xk))
        row = a[k]
        for i in range(k):  # the upper part of column k is row k's lower part
            w[i] -= row[i] * xk
        for i in range(k, n):
            w[i] -= a[i, k] * xk
    tol = relative_tol * max(b_max, a_max * x_max, np.finfo(w.dtype).tiny)
    best = -1
    best_w = tol
    for i in range(n_bounded):
        if not passive[i] and i != skip and w[i] > best_w:
            best_w = w[i]
            best = i
    return best


@njit(**INNER)
def nnls(a, b, n, n_bounded, x, passive, z, sub, work, idx):
    """Minimise ½ xᵀAx − bᵀx with ``x[:n_bounded] ≥ 0`` (Lawson–Hanson active set).

    ``a`` is symmetric positive (semi)definite, lower triangle read; variables past
    ``n_bounded`` are free (e.g. a bias). On entry ``x[:n_bounded]`` is the starting
    point: its positive entries start in the passive set (a warm start from a previous
    solution; anything else, NaN included, starts at 0, the free variables too). The
    result is written to ``x[:n]``.
    ``sub`` and ``work`` are (n + 1) × (n + 1) scratch, ``z`` length n, ``passive``
    a boolean length-n scratch and ``idx`` an integer length-n scratch.
    Returns ``OK`` or ``JITTERED`` (a passive subproblem was singular).

    The Cholesky factor of the passive variables' submatrix (in ``sub``, their order
    in ``idx``) is updated as variables enter and leave, O(n²) a change instead of a
    new O(n³) factorisation. If an entering variable makes it singular, the rest of
    the solve refactors each subproblem with a ridge instead.
    """
    b_max = 0.0
    a_max = 0.0
    for i in range(n):
        b_max = max(b_max, abs(b[i]))
        a_max = max(a_max, abs(a[i, i]))
    relative_tol = 10.0 * np.finfo(a.dtype).eps * n
    pivot_tol = n * np.finfo(a.dtype).eps * a_max  # as in cholesky
    m = np.int64(0)  # passive variables in the factor (-1 once singular); not a literal 0
    for i in range(n):
        passive[i] = i >= n_bounded or x[i] > 0.0
        if not (i < n_bounded and x[i] > 0.0):
            x[i] = 0.0
        if passive[i] and m >= 0:
            m = _append_variable(a, i, sub, idx, m, pivot_tol)
    status = OK
    best = -1
    rejected = -1
    for outer in range(3 * n + 3):
        if outer > 0:  # the first pass solves for the starting passive set
            best = _most_violated(a, b, n, n_bounded, x, passive, z, relative_tol, b_max,
                                  a_max, rejected)
            if best < 0:
                break
            passive[best] = True
            if m >= 0:
                m = _append_variable(a, best, sub, idx, m, pivot_tol)
        for inner in range(3 * n + 3):
            status |= _passive_solve(a, b, n, passive, z, sub, work, idx, m)
            if inner == 0 and best >= 0 and z[best] <= 0.0:
                # its gradient was positive only by rounding: it leaves again, and the
                # next choice skips it (Lawson & Hanson's safeguard against cycling)
                passive[best] = False
                if m >= 0:
                    m = _remove_variable(sub, idx, m, best, work[1])
                rejected = best
                break
            rejected = -1
            alpha = 2.0
            blocking = -1
            for i in range(n_bounded):
                if passive[i] and z[i] <= 0.0:
                    step = x[i] / (x[i] - z[i])
                    if step < alpha:
                        alpha = step
                        blocking = i
            if alpha >= 2.0:  # all passive bound variables strictly positive
                for i in range(n):
                    x[i] = z[i]
                break
            for i in range(n):
                x[i] += alpha * (z[i] - x[i])
            for i in range(n_bounded):  # the variable that blocked the step is at its bound
                if passive[i] and (i == blocking or x[i] <= 0.0):
                    passive[i] = False
                    x[i] = 0.0
                    if m >= 0:
                        m = _remove_variable(sub, idx, m, i, work[1])
    return status


@njit(**INNER)
def _passive_solve(a, b, n, passive, z, sub, work, idx, m):
    """z = argmin over the passive variables, others 0: from their factor of size ``m``
    in ``sub``, or (``m`` = -1) by a new factorisation, with a ridge if singular."""
    if m < 0:
        return _solve_passive_afresh(a, b, n, passive, z, sub, work, idx)
    for i in range(n):
        z[i] = 0.0
    rhs = work[0]
    for p in range(m):
        rhs[p] = b[idx[p]]
    cholesky_solve(sub, m, rhs)
    for p in range(m):
        z[idx[p]] = rhs[p]
    return OK
