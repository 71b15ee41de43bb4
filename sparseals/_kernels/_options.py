"""JIT options, read once, shared by every kernel."""

import os

# Reassociation and contraction let LLVM vectorise the K-wide reductions; we keep
# NaN/inf semantics (no 'nnan'/'ninf') so the finite checks after each fit stay valid.
_FASTMATH = {"contract", "reassoc", "nsz", "arcp"}

_CACHE = os.environ.get("SPARSEALS_NO_JIT_CACHE", "") == ""

INNER = dict(nogil=True, cache=_CACHE, fastmath=_FASTMATH)
"""Options for small helpers called from outer kernels (LLVM inlines them)."""

OUTER = dict(nogil=True, cache=_CACHE, fastmath=_FASTMATH, parallel=True)
"""Options for the parallel outer kernels."""

OUTER_ORDERED = dict(OUTER, fastmath=_FASTMATH - {"reassoc"})
"""Options for parallel kernels whose own loop body must round the same in every process.

Numba compiles a parallel loop's body on its own; the compiling process runs that copy,
while a process that loads the kernel from the cache runs the copy linked into it,
which LLVM optimised once more. With reassociation allowed the two may order the body's
arithmetic differently: the CG kernels' results then depended on whether the process had
compiled them (float32, K = 10: factors 1.2e-5 apart after three iterations). Without it
in the body, the helpers the body calls keep it (their flags travel with their
instructions when inlined), so their K-wide reductions still vectorise.
"""

ROW_CHUNK = 32
"""Rows handed to a thread at a time: small enough to balance power-law row lengths."""
