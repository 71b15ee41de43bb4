"""Small dense solvers used once per row inside the half-step kernels.

All work in place on caller-provided scratch (no allocation) and only read the
leading ``n`` × ``n`` block, so one scratch buffer serves rows of any size.
"""

import numpy as np
from numba import njit

from ._options import INNER

OK = 0
JITTERED = 1
"""Status of a row solve: ``JITTERED`` means the system was singular (e.g. λ = 0 and
fewer ratings than factors) and was solved with a tiny ridge added to the diagonal."""


@njit(**INNER)
def cholesky(a, n):
    """Factor the lower triangle of ``a[:n, :n]`` in place; False if not positive definite.

    Column by column; the entries below the diagonal are dot products with the pivot
    row, taken four rows at a time so that each load of the pivot row serves four of
    them (1.4–1.8× faster than one at a time at n = 64–128).
    """
    for j in range(n):
        pivot = a[j]
        d = pivot[j]
        for k in range(j):
            d -= pivot[k] * pivot[k]
        if not d > 0.0:  # also catches NaN
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
def cholesky_solve(l, n, x):
    """Solve ``L Lᵀ x = x`` in place, ``L`` the factor from :func:`cholesky`."""
    for i in range(n):
        s = x[i]
        for k in range(i):
            s -= l[i, k] * x[k]
        x[i] = s / l[i, i]
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
    """A ridge small against the matrix's scale, for singular systems."""
    trace = 0.0
    for i in range(n):
        trace += abs(a[i, i])
    eps = np.finfo(a.dtype).eps
    return max(trace / n, 1.0) * eps * 1e3


@njit(**INNER)
def spd_solve(a, n, x, work):
    """Solve ``a[:n, :n] x = x`` (symmetric, lower triangle read) in place.

    ``work`` is an n × n scratch matrix. A matrix that is not positive definite is
    retried with :func:`_ridge` added to its diagonal; returns ``OK`` or ``JITTERED``.
    """
    _copy_lower(a, work, n)
    if cholesky(work, n):
        cholesky_solve(work, n, x)
        return OK
    ridge = _ridge(a, n)
    for attempt in range(12):
        _copy_lower(a, work, n)
        for i in range(n):
            work[i, i] += ridge
        if cholesky(work, n):
            cholesky_solve(work, n, x)
            return JITTERED
        ridge *= 100.0
    for i in range(n):
        x[i] = 0.0
    return JITTERED


@njit(**INNER)
def _solve_passive(a, b, n, passive, z, sub, work, idx):
    """z = argmin of the quadratic over the passive variables, others held at 0."""
    m = 0
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
def nnls(a, b, n, n_bounded, x, passive, z, sub, work, idx):
    """Minimise ½ xᵀAx − bᵀx with ``x[:n_bounded] ≥ 0`` (Lawson–Hanson active set).

    ``a`` is symmetric positive (semi)definite, lower triangle read; variables past
    ``n_bounded`` are free (e.g. a bias). The result is written to ``x[:n]``.
    ``sub`` and ``work`` are (n + 1) × (n + 1) scratch, ``z`` length n, ``passive``
    a boolean length-n scratch and ``idx`` an integer length-n scratch.
    Returns ``OK`` or ``JITTERED`` (a passive subproblem was singular).
    """
    status = OK
    scale = 0.0
    for i in range(n):
        scale = max(scale, abs(b[i]), abs(a[i, i]))
    tol = 10.0 * np.finfo(a.dtype).eps * max(scale, 1e-30) * n
    for i in range(n):
        passive[i] = i >= n_bounded
    status |= _solve_passive(a, b, n, passive, z, sub, work, idx)
    for i in range(n):
        x[i] = z[i]
    for outer in range(3 * n + 3):
        # most positive component of the negative gradient among the bound variables
        best = -1
        best_w = tol
        for i in range(n_bounded):
            if passive[i]:
                continue
            w = b[i]
            for k in range(n):
                aik = a[i, k] if k <= i else a[k, i]
                w -= aik * x[k]
            if w > best_w:
                best_w = w
                best = i
        if best < 0:
            break
        passive[best] = True
        for inner in range(3 * n + 3):
            status |= _solve_passive(a, b, n, passive, z, sub, work, idx)
            alpha = 2.0
            for i in range(n_bounded):
                if passive[i] and z[i] <= 0.0:
                    step = x[i] / (x[i] - z[i])
                    if step < alpha:
                        alpha = step
            if alpha >= 2.0:  # all passive bound variables strictly positive
                for i in range(n):
                    x[i] = z[i]
                break
            for i in range(n):
                x[i] += alpha * (z[i] - x[i])
            for i in range(n_bounded):
                if passive[i] and x[i] <= tol:
                    passive[i] = False
                    x[i] = 0.0
    return status
