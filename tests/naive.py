"""Slow, obvious numpy references the kernels are checked against."""

import numpy as np


def explicit_rows(dense, other, reg, reg_exponent=0.0, other_bias=None, shift=0.0):
    """Row-by-row solve of the explicit normal equations over observed (non-NaN) cells.

    Returns (factors, biases); biases is None unless ``other_bias`` is given.
    """
    n_rows, k = dense.shape[0], other.shape[1]
    use_bias = other_bias is not None
    factors = np.zeros((n_rows, k))
    biases = np.zeros(n_rows) if use_bias else None
    for i in range(n_rows):
        cols = np.flatnonzero(~np.isnan(dense[i]))
        if len(cols) == 0:
            continue
        design = other[cols].astype(np.float64)
        target = dense[i, cols].astype(np.float64) - shift
        if use_bias:
            target = target - other_bias[cols]
            design = np.hstack([design, np.ones((len(cols), 1))])
        lam = reg * len(cols) ** reg_exponent
        a = design.T @ design + lam * np.eye(design.shape[1])
        x = np.linalg.solve(a, design.T @ target)
        factors[i] = x[:k]
        if use_bias:
            biases[i] = x[k]
    return factors, biases


def explicit_loss(dense, users, items, reg_users, reg_items, reg_exponent=0.0,
                  user_bias=None, item_bias=None, shift=0.0):
    """The explicit objective of DESIGN §1 from a dense matrix with NaN for missing."""
    pred = users.astype(np.float64) @ items.T.astype(np.float64) + shift
    if user_bias is not None:
        pred = pred + user_bias[:, None] + item_bias[None, :]
    observed = ~np.isnan(dense)
    residual = np.where(observed, dense - pred, 0.0)
    n_user = observed.sum(axis=1) ** reg_exponent
    n_item = observed.sum(axis=0) ** reg_exponent
    user_norm = (users.astype(np.float64) ** 2).sum(axis=1)
    item_norm = (items.astype(np.float64) ** 2).sum(axis=1)
    if user_bias is not None:
        user_norm = user_norm + user_bias.astype(np.float64) ** 2
        item_norm = item_norm + item_bias.astype(np.float64) ** 2
    return float((residual ** 2).sum() + reg_users * n_user @ user_norm
                 + reg_items * n_item @ item_norm)


def explicit_user_gradient(dense, users, items, reg, reg_exponent=0.0):
    """∂L/∂U of the explicit loss (no biases)."""
    observed = ~np.isnan(dense)
    residual = np.where(observed, dense - users @ items.T, 0.0)
    weights = observed.sum(axis=1) ** reg_exponent
    return -2 * residual @ items + 2 * reg * weights[:, None] * users


def top_n(scores, n, excluded=()):
    """Brute force: sort by (−score, index), drop excluded columns, keep n."""
    order = sorted((c for c in range(len(scores)) if c not in set(excluded)),
                   key=lambda c: (-scores[c], c))
    return np.array(order[:n], dtype=np.int64)
