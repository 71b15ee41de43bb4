"""A factor table times a small square matrix, by blocks of rows on numba threads.

The implicit half-steps rotate both sides' factors into the eigenvector basis of the
shared Gram matrix and back (:mod:`.implicit`): three products of an N × K table by a
K × K matrix per half-step. One BLAS call per block of rows, each on one thread (BLAS
itself is held to one thread inside ``kernel_threads``), so the products use every
core without waking BLAS's own threads, whose spinning after a call slows the
numba kernel that follows.
"""

import numba
import numpy as np
from numba import njit, prange

from ._options import OUTER

BLOCK_ROWS = 2048
"""Rows per BLAS call (1 MiB of float32 at K = 128)."""


def allocate_scratch(n_threads, k, dtype, in_place):
    """One block of rows per thread for :func:`rotate_rows` in place (none otherwise:
    the array then only gives the block size)."""
    return np.empty((n_threads if in_place else 0, BLOCK_ROWS, k), dtype=dtype)


@njit(**OUTER)
def rotate_rows(factors, basis, out, in_place, scratch):
    """``out = factors @ basis`` by blocks of ``scratch.shape[1]`` rows; with
    ``in_place``, ``out`` is ``factors`` itself and each block goes through its
    thread's block of ``scratch`` (:func:`allocate_scratch`).

    Every block is one product of its own, so the result does not depend on the
    thread count. Call with ``numba.parallel_chunksize(1)``: the blocks are few.
    """
    n = factors.shape[0]
    rows = scratch.shape[1]
    for block in prange((n + rows - 1) // rows):
        start = block * rows
        stop = min(start + rows, n)
        if in_place:
            rotated = scratch[numba.get_thread_id(), :stop - start]
            np.dot(factors[start:stop], basis, rotated)
            out[start:stop] = rotated
        else:
            np.dot(factors[start:stop], basis, out[start:stop])
