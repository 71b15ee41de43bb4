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


# ---------------------------------------------------------------- implicit feedback (Hu et al.)
def implicit_weights(values, alpha=1.0, confidence="linear", unobserved_weight=1.0):
    """Dense confidence C and preference P from a dense matrix with NaN for not stored."""
    stored = ~np.isnan(values)
    r = np.where(stored, values, 0.0).astype(np.float64)
    if confidence == "linear":
        c = 1.0 + alpha * r
    else:
        c = np.abs(alpha * r)
    conf = np.where(stored, c, unobserved_weight)
    pref = (stored & (r > 0)).astype(np.float64)
    return conf, pref


def implicit_rows(values, other, reg, alpha=1.0, unobserved_weight=1.0, reg_exponent=0.0,
                  confidence="linear"):
    """Row-by-row dense solve of the Hu et al. normal equations (every cell weighted).

    ``values`` is dense with NaN for not-stored cells. A row with no stored cell gets 0.
    """
    conf, pref = implicit_weights(values, alpha, confidence, unobserved_weight)
    other = other.astype(np.float64)
    n_rows, k = values.shape[0], other.shape[1]
    factors = np.zeros((n_rows, k))
    for i in range(n_rows):
        n_i = int((~np.isnan(values[i])).sum())
        if n_i == 0:
            continue
        lam = reg * (n_i + unobserved_weight * values.shape[1]) ** reg_exponent
        a = (other.T * conf[i]) @ other + lam * np.eye(k)
        factors[i] = np.linalg.solve(a, other.T @ (conf[i] * pref[i]))
    return factors


def implicit_loss(values, users, items, reg_users, reg_items, alpha=1.0, unobserved_weight=1.0,
                  reg_exponent=0.0, confidence="linear"):
    """The full implicit objective of DESIGN §1, from the dense N × M matrices."""
    conf, pref = implicit_weights(values, alpha, confidence, unobserved_weight)
    users = users.astype(np.float64)
    items = items.astype(np.float64)
    stored = ~np.isnan(values)
    n_user = (stored.sum(axis=1) + unobserved_weight * values.shape[1]) ** reg_exponent
    n_item = (stored.sum(axis=0) + unobserved_weight * values.shape[0]) ** reg_exponent
    fit = (conf * (pref - users @ items.T) ** 2).sum()
    return float(fit + reg_users * n_user @ (users ** 2).sum(axis=1)
                 + reg_items * n_item @ (items ** 2).sum(axis=1))


def implicit_user_gradient(values, users, items, reg, alpha=1.0, unobserved_weight=1.0,
                           reg_exponent=0.0, confidence="linear"):
    """∂L/∂U of the implicit loss."""
    conf, pref = implicit_weights(values, alpha, confidence, unobserved_weight)
    stored = ~np.isnan(values)
    weights = (stored.sum(axis=1) + unobserved_weight * values.shape[1]) ** reg_exponent
    residual = conf * (pref - users @ items.T)
    return -2 * residual @ items + 2 * reg * weights[:, None] * users


# ---------------------------------------------------------------- evaluation metrics
def ranking_metrics(scores, seen, relevant, k):
    """Per-user precision, recall, NDCG, AP and hit @k by brute force.

    ``scores`` is the dense (n_users, n_items) score matrix, ``seen[u]`` the items
    excluded from user u's ranking, ``relevant[u]`` the held-out relevant items.
    Returns a dict of metric name → list over the users in ``relevant`` (in order).
    """
    out = {"precision": [], "recall": [], "ndcg": [], "map": [], "hit_rate": []}
    for u, rel in relevant.items():
        rel = set(int(i) for i in rel)
        ranked = top_n(scores[u], k, excluded=seen.get(u, ()))
        gains = [1.0 if int(i) in rel else 0.0 for i in ranked]
        hits = sum(gains)
        dcg = sum(g / np.log2(p + 2) for p, g in enumerate(gains))
        idcg = sum(1 / np.log2(p + 2) for p in range(min(k, len(rel))))
        ap = sum(sum(gains[:p + 1]) / (p + 1) for p, g in enumerate(gains) if g)
        out["precision"].append(hits / k)
        out["recall"].append(hits / len(rel))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(ap / min(k, len(rel)))
        out["hit_rate"].append(float(hits > 0))
    return out


def auc(scores, seen, relevant):
    """Per-user AUC over all (relevant, irrelevant) candidate pairs; ties count 1/2."""
    values = []
    for u, rel in relevant.items():
        rel = set(int(i) for i in rel)
        candidates = [i for i in range(scores.shape[1]) if i not in set(seen.get(u, ())) or i in rel]
        pos = [scores[u, i] for i in candidates if i in rel]
        neg = [scores[u, i] for i in candidates if i not in rel]
        if not pos or not neg:
            continue
        wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
        values.append(wins / (len(pos) * len(neg)))
    return values
