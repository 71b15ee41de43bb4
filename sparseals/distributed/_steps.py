"""The half-step task run on a worker for one rating block (plain numpy, no Dask).

It calls the public half-step of :mod:`sparseals.solvers` on the block, then
reports what the client sums over blocks: the loss terms, the block's part of
the Gram matrix ``XᵀX`` (the next implicit half-step needs the whole one) and the
count of singular systems.
"""

from typing import NamedTuple

import numpy as np

from .. import solvers
from .._threads import kernel_threads
from ._blocks import FactorBlock, concatenate


class StepSpec(NamedTuple):
    """The model's settings for one side's half-step (picklable; no callback, no model)."""

    implicit: bool
    regularization: float
    reg_exponent: float
    num_threads: object
    with_loss: bool  # compute the data term of the loss on this side's blocks
    # explicit
    biases: bool = False
    global_mean: float = 0.0
    nonnegative: bool = False
    # implicit
    alpha: float = 1.0
    unobserved_weight: float = 1.0
    confidence: str = "linear"
    solver: str = "cholesky"
    cg_steps: int = 3


def _worker_threads(requested):
    """The model's ``num_threads``, or the worker's thread count (not every core it sees)."""
    if requested is not None:
        return requested
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def half_step(block, parts, own, gram, spec):
    """Recompute the rows of ``block`` from the other side's factor ``parts``.

    Parameters
    ----------
    block : RatingBlock
    parts : list of FactorBlock
        The other side's factors: every block (broadcast) or the rows routed to this one.
    own : FactorBlock or None
        This block's current factors (the start of implicit CG steps and of NNLS).
    gram : ndarray (K, K) or None
        The whole other side's ``YᵀY`` (implicit).
    spec : StepSpec

    Returns
    -------
    factors : FactorBlock
    stats : dict
        ``penalty``, ``loss`` (data term; 0 unless ``spec.with_loss``), ``gram`` (float64
        ``XᵀX`` of the new rows), ``n_singular`` and ``finite``.
    """
    other = concatenate(parts)
    threads = _worker_threads(spec.num_threads)
    rows = block.rows
    if spec.implicit:
        factors, n_singular = solvers.implicit_half_step(
            rows, other.factors, regularization=spec.regularization, alpha=spec.alpha,
            unobserved_weight=spec.unobserved_weight, reg_exponent=spec.reg_exponent,
            confidence=spec.confidence, solver=spec.solver, cg_steps=spec.cg_steps,
            initial=None if own is None else own.factors, other_gram=gram,
            n_other=block.n_cols, num_threads=threads)
        biases = None
    else:
        factors, biases, n_singular = solvers.explicit_half_step(
            rows, other.factors, regularization=spec.regularization,
            reg_exponent=spec.reg_exponent, other_biases=other.biases if spec.biases else None,
            global_mean=spec.global_mean, nonnegative=spec.nonnegative,
            initial=None if own is None else own.factors, num_threads=threads)
    new = FactorBlock(factors, biases)
    stats = {
        "n_singular": int(n_singular),
        "finite": bool(np.isfinite(factors).all()),
        "penalty": _penalty(rows, new, block.n_cols, spec),
        "gram": (factors.T @ factors).astype(np.float64),
        "loss": _data_loss(rows, new, other, spec, threads) if spec.with_loss else 0.0,
    }
    return new, stats


def _penalty(rows, new, n_cols, spec):
    """``λ Σ_i w_i (‖x_i‖² + b_i²)`` over the block, with the models' row weights."""
    counts = np.diff(rows.indptr).astype(np.float64)
    if spec.implicit:
        counts += spec.unobserved_weight * n_cols
    weights = counts ** spec.reg_exponent
    norms = np.einsum("ij,ij->i", new.factors, new.factors, dtype=np.float64)
    if new.biases is not None:
        norms += new.biases.astype(np.float64) ** 2
    return spec.regularization * float(weights @ norms)


def _data_loss(rows, new, other, spec, threads):
    """The block's observed-cell part of the loss (the residuals are symmetric in the sides)."""
    from .._kernels.loss import explicit_row_losses, implicit_row_losses

    with kernel_threads(threads):
        if spec.implicit:
            c0, c1 = solvers._confidence_terms(spec.confidence, float(spec.alpha))
            losses = implicit_row_losses(rows.indptr, rows.indices, rows.data, new.factors,
                                         other.factors, c0, c1, float(spec.unobserved_weight))
        else:
            zero = np.zeros(1, dtype=new.factors.dtype)
            losses = explicit_row_losses(
                rows.indptr, rows.indices, rows.data, new.factors,
                zero if new.biases is None else new.biases, other.factors,
                zero if other.biases is None else other.biases, spec.global_mean, spec.biases,
                np.zeros(0, dtype=np.bool_))
    return float(losses.sum())
