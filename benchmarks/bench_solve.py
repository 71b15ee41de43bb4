"""asv benchmark of the per-row dense solve (``spd_solve``: Cholesky and two substitutions).

It is 20–24 % of an ExplicitALS iteration on the ml20m shape (benchmarks/README.md, the
thirteenth session's section), so a faster factorisation shows here first, away from the
gathers and Gram products around it in the half-step benchmarks.
"""

import numba
import numpy as np
from numba import njit, prange

from sparseals._kernels.solve import spd_solve

ELEMENTS = 1 << 24
"""Matrix entries per benchmark (count × n²): 64 MiB of float32 systems."""


@njit(parallel=True)
def _solve_all(matrices, rhs, work):
    n = matrices.shape[1]
    for r in prange(matrices.shape[0]):
        spd_solve(matrices[r], n, rhs[r], work[numba.get_thread_id()])


class RowSolve:
    params = ([32, 64, 128], ["float32", "float64"])
    param_names = ["n", "dtype"]

    def setup(self, n, dtype):
        rng = np.random.default_rng(0)
        count = ELEMENTS // (n * n)
        factors = rng.standard_normal((count, n, n)).astype(dtype)
        # well-conditioned SPD systems, like a row's Gram matrix plus λ I
        self.matrices = np.einsum("mki,mkj->mij", factors, factors) + n * np.eye(n, dtype=dtype)
        self.rhs = rng.standard_normal((count, n)).astype(dtype)
        self.work = np.empty((numba.config.NUMBA_NUM_THREADS, n + 1, n + 1), dtype=dtype)
        _solve_all(self.matrices, self.rhs.copy(), self.work)  # compile outside the timing

    def time_solve_all(self, n, dtype):
        # the solve overwrites its right-hand sides; the copy is ~1 % of the time at n = 32
        _solve_all(self.matrices, self.rhs.copy(), self.work)
