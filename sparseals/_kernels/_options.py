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

ROW_CHUNK = 32
"""Rows handed to a thread at a time: small enough to balance power-law row lengths."""
