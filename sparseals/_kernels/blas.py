"""BLAS products inside kernels, in place, on the part of a matrix that is needed.

numba's ``np.dot`` writes a whole product into an array of its own. The row solves
need a product added to part of a matrix that is already there (the lower triangle of
a normal matrix), so these helpers call ``?gemm`` through numba's C helper
``numba_xxgemm`` (what numba's own ``np.dot`` calls) with the right offsets, strides and
``beta = 1``, no copies: for a full product, or for the blocks of rows that cover a
lower triangle (5/8 of a full product from K = 64 on, :func:`lower_parts`). Called on
blocks of ``product_rows(dim)`` rows, they stay on OpenBLAS's small-matrix kernels,
which beat ``?syrk`` (half the arithmetic, but operands packed first) in both kernels:
the explicit one by 1.3× at K = 64, the implicit exact one by 1.3× at K = 64 and
1.05–1.1× at K = 128 (OpenBLAS 0.3.31, two threads, against two blocks). All are
callable from numba code only, on C-contiguous float32 or float64 arrays (checked when
compiled).
"""

from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload
from numba.np.linalg import ensure_blas, get_blas_kind

from ._options import INNER

_NO_TRANSPOSE = ord("n")
_TRANSPOSE = ord("t")


def _gemm(dtype):
    """numba's C entry point for ``?gemm`` (column-major, Fortran conventions)."""
    pointer = types.CPointer(dtype)
    signature = types.intc(types.char, types.char, types.char,  # kind, transa, transb
                           types.intp, types.intp, types.intp,  # m, n, k
                           pointer, pointer, types.intp,  # alpha, a, lda
                           pointer, types.intp,  # b, ldb
                           pointer, pointer, types.intp)  # beta, c, ldc
    return types.ExternalFunction("numba_xxgemm", signature)


def _check_arrays(name, *arrays):
    if any(not isinstance(a, types.Array) or a.ndim != 2 or a.layout != "C" for a in arrays):
        raise TypingError(f"{name} needs C-contiguous 2-D arrays")
    if len({a.dtype for a in arrays}) != 1:
        raise TypingError(f"{name} needs arrays of one dtype")
    return arrays[0].dtype


@njit(nogil=True)
def _check_status(status):
    if status != 0:  # numba's helper could not reach scipy's BLAS
        raise RuntimeError("BLAS gemm failed inside a sparseals kernel")


@intrinsic
def _pointer_to(typingctx, like, value):
    """A pointer to ``value`` as ``like``'s dtype (BLAS takes alpha and beta by address)."""
    dtype = like.dtype

    def codegen(context, builder, signature, args):
        scalar = context.cast(builder, args[1], signature.args[1], dtype)
        return cgutils.alloca_once_value(builder, scalar)

    return types.CPointer(dtype)(like, value), codegen


PRODUCT_ELEMENTS = 8192
"""Size (rows × columns) of the blocks the kernels hand to :func:`add_lower_product` for a
Gram matrix: products this small run on OpenBLAS's small-matrix gemm kernels, which
multiply the operands where they are, while a larger one (or any ``?syrk``) first packs
both into buffers. With whole rows of up to 16,384 entries by ``?syrk``, the implicit
exact half-step spent as long packing as multiplying (ml20m shape, K = 64). Measured on
the ml20m shape, 2 threads: 128 rows best at K = 64 (64 the same for the implicit
solver, 1.15× slower for the explicit one), 64 rows at K = 128 (128 rows 1.05–1.2× slower
in both)."""


@njit(**INNER)
def lower_parts(dim):
    """Blocks of rows by which :func:`add_lower_product` covers a lower triangle of
    ``dim`` columns: block p of P takes rows ``[p·dim/P, (p+1)·dim/P)`` and the columns
    left of its end, ``(P + 1) / 2P`` of a full product (3/4 for 2 blocks, 5/8 for 4).
    Blocks narrower than 16 rows run OpenBLAS's kernels below their best, so 2 blocks
    up to 47 columns, 3 up to 63 and 4 from 64 on. Against 2 blocks, measured on the
    ml20m shape (explicit half-steps, 2 threads): 4 blocks 0.93 / 0.96 (users / items)
    at K = 64 and 0.93 / 0.91 at K = 128; 8 blocks 1.03 / 1.01 at K = 64 and 0.94 / 0.88
    at K = 128."""
    return min(4, max(2, dim // 16))


@njit(**INNER)
def product_rows(dim):
    """Rows per :func:`add_lower_product` call for a Gram matrix of ``dim`` columns
    (``PRODUCT_ELEMENTS // dim``, within 16–128)."""
    return max(16, min(128, PRODUCT_ELEMENTS // dim))


def add_lower_product(x, y, size, dim, out):
    """``out[a, b] += Σ_(q < size) x[q, a] · y[q, b]`` for ``b ≤ a < dim``.

    ``x`` and ``y`` are C-contiguous 2-D arrays of one float dtype with at least
    ``size ≥ 1`` rows and ``dim`` columns; ``out`` is C-contiguous with at least
    ``dim`` rows and columns. Meant for symmetric products (``xᵀy`` symmetric, as in
    ``Bᵀ B`` or ``(W B)ᵀ B``): besides the lower triangle, entries above the diagonal
    of ``out[:dim, :dim]`` near it also receive their part of the product, so only
    the lower triangle of ``out`` is meaningful afterwards. Callable from numba only.
    """
    raise NotImplementedError("add_lower_product is called from numba kernels only")


@overload(add_lower_product, jit_options=dict(nogil=True))
def _add_lower_product(x, y, size, dim, out):
    dtype = _check_arrays("add_lower_product", x, y, out)
    ensure_blas()
    gemm = _gemm(dtype)
    kind = ord(get_blas_kind(dtype))

    def impl(x, y, size, dim, out):
        # Row-major out[a, b] is column-major C[b, a]; x and y are the column-major
        # dim × size matrices X' and Y', so C += Y' X'ᵀ on blocks of rows of out:
        # rows [lo, hi) × columns [0, hi), which cover the lower triangle.
        one = _pointer_to(x, 1)
        parts = lower_parts(dim)
        lo = 0
        for part in range(1, parts + 1):
            hi = part * dim // parts
            if hi > lo:
                _check_status(gemm(kind, _NO_TRANSPOSE, _TRANSPOSE, hi, hi - lo, size, one,
                                   y.ctypes, y.shape[1], x[0, lo:].ctypes, x.shape[1], one,
                                   out[lo].ctypes, out.shape[1]))
            lo = hi

    return impl


def set_row_products(x, size, dim, out):
    """``out[p, q] = x[p, :dim] · x[q, :dim]`` for ``p, q < size`` (the Gram matrix of
    the rows, ``x xᵀ``, in full).

    ``x`` is C-contiguous with at least ``size ≥ 1`` rows and ``dim ≥ 1`` columns;
    ``out`` is C-contiguous with at least ``size`` rows and columns. Callable from
    numba only.
    """
    raise NotImplementedError("set_row_products is called from numba kernels only")


@overload(set_row_products, jit_options=dict(nogil=True))
def _set_row_products(x, size, dim, out):
    dtype = _check_arrays("set_row_products", x, out)
    ensure_blas()
    gemm = _gemm(dtype)
    kind = ord(get_blas_kind(dtype))

    def impl(x, size, dim, out):
        # x is the column-major dim × size matrix X'; out (symmetric) is C = X'ᵀ X'.
        _check_status(gemm(kind, _TRANSPOSE, _NO_TRANSPOSE, size, size, dim, _pointer_to(x, 1),
                           x.ctypes, x.shape[1], x.ctypes, x.shape[1], _pointer_to(x, 0),
                           out.ctypes, out.shape[1]))

    return impl
