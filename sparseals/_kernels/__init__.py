"""Private numba kernels: arrays and scalars in, arrays and status codes out.

Nothing here validates input or imports from the rest of the package; the public
functions in :mod:`sparseals.solvers` and the models do that before calling in.
"""
