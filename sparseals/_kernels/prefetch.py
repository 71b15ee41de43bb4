"""A software prefetch hint for numba kernels (LLVM's ``llvm.prefetch``).

The ALS kernels read the other side's factor rows in the order of a row's column
indices: scattered 256–512-byte reads from a table larger than the cache. The
hardware prefetcher cannot guess the next row, so the gather loops ask for rows a
few entries ahead while they copy the current one, and the loads overlap instead of
waiting one after another. A table that stays in the last-level cache gains nothing
from the hints and pays for their instructions, so the loops ask
:func:`worth_prefetching` once, before the loop.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._options import INNER

LINE_BYTES = 64
"""Cache-line size of the x86-64 and ARM64 cores we run on."""


@intrinsic
def prefetch(typingctx, array, row, col):
    """Hint the CPU to bring the cache line holding ``array[row, col]`` into L1.

    A hint only: it never faults and has no effect on the results, but ``row``
    and ``col`` must still be valid indices (the address is computed unchecked).
    """
    if not (isinstance(array, types.Array) and array.ndim == 2):
        return None
    sig = types.void(array, row, col)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        index = [context.cast(builder, args[1], signature.args[1], types.intp),
                 context.cast(builder, args[2], signature.args[2], types.intp)]
        address = cgutils.get_item_pointer(context, builder, array_type, ary, index,
                                           wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
            "llvm.prefetch.p0")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(hint, [builder.bitcast(address, byte_ptr), ir.Constant(i32, 0),
                            ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


AHEAD = 8
"""Entries to look ahead. Eight rows of 256–512 bytes keep 32–64 cache-line loads in
flight per core; 8 and 16 measured the same, no prefetch 1.1–1.5× slower (K = 64, 128,
ml20m shape, measured in an earlier session)."""


@njit(**INNER)
def prefetch_factor_row(factors, indices, position, end):
    """Prefetch ``factors[indices[position + AHEAD]]`` if that entry is before ``end``."""
    ahead = position + AHEAD
    if ahead < end:
        row = indices[ahead]
        for col in range(0, factors.shape[1], max(1, LINE_BYTES // factors.itemsize)):
            prefetch(factors, row, col)


MIN_BYTES = 16 << 20
"""Smallest factor table worth the hints (half the 32 MiB L3 of the 2-core Zen 4 machine
this was measured on). CG half-steps without them, old and new alternated in one process:
ml1m shape K = 128 (2–3 MB tables) users 0.84×, items 0.83×; ml20m shape K = 64 users
(6.8 MB of item factors) 0.87×, K = 128 users (13.7 MB) 1.02×; but the K = 64 item
half-step (35 MB of user factors) was 1.17× slower without them. The exact solver's gather,
which also writes the scaled rows, keeps the hints whatever the size: its ml20m K = 64 user
half-step was 1.19× slower without them."""


@njit(**INNER)
def worth_prefetching(factors):
    """Whether reads from ``factors`` should be hinted (it holds at least ``MIN_BYTES``)."""
    return factors.nbytes >= MIN_BYTES
