"""MovieLens 100K explicit-rating accuracy: grid search, 5-fold CV and the official u1 split.

Usage::

    python benchmarks/ml100k_rmse.py [DATA_DIR]

DATA_DIR defaults to $SPARSEALS_DATA or ../shared/data beside the repository. Prints
the grid searched (5-fold random CV, seed 0, warm-started), the best setting's per-fold
RMSE / MAE (unclipped and clipped to 1..5) and its RMSE on the official u1.base /
u1.test split. Target (issue 4): 5-fold mean RMSE ≤ 0.915.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

import sparseals as sa
from sparseals.datasets import load_movielens
from sparseals.metrics import mae, rmse
from sparseals.model_selection import KFold, _split, cross_validate, grid_search

GRID = {
    "factors": [20, 50, 100],
    "regularization": [0.08, 0.1, 0.125, 0.15],
}
BASE = dict(reg_exponent=1.0, biases=True, iterations=20, random_state=0)


def official_split(full, folder):
    """u1.base / u1.test as (train, test) in ``full``'s index space."""
    test = load_movielens(folder / "u1.test")
    rows = test.by_user
    test_users = test.user_ids[np.repeat(np.arange(test.shape[0]), np.diff(rows.indptr))]
    test_items = test.item_ids[rows.indices]
    keys_test = (np.searchsorted(full.user_ids, test_users).astype(np.int64) * full.shape[1]
                 + np.searchsorted(full.item_ids, test_items))
    rows = full.by_user
    keys = (np.repeat(np.arange(full.shape[0]), np.diff(rows.indptr)).astype(np.int64)
            * full.shape[1] + rows.indices)
    mask = np.isin(keys, keys_test)
    assert mask.sum() == test.nnz, "u1.test is not a subset of u.data"
    return _split(full, mask)


def main():
    default = Path(os.environ.get("SPARSEALS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    folder = (Path(sys.argv[1]) if len(sys.argv) > 1 else default) / "ml-100k"
    ratings = load_movielens(folder)
    print(f"data: {ratings}")
    print(f"grid: {GRID}, fixed: {BASE}; 5-fold random CV (KFold(5, seed 0)), warm start")
    start = time.perf_counter()
    folds = KFold(5, shuffle=True, random_state=0)
    result = grid_search(sa.ExplicitALS(**BASE), ratings, GRID, cv=folds, metric="rmse",
                         metrics=("mae",), verbose=True)
    print(f"grid search: {time.perf_counter() - start:.0f} s; best {result.best_params_} "
          f"(mean RMSE {result.best_score_:.4f})")
    best = sa.ExplicitALS(**{**BASE, **result.best_params_})
    print(f"\nbest model, cold start: {best!r}")
    for clip in (None, (1, 5)):
        scores = cross_validate(best, ratings, cv=folds, metrics=("rmse", "mae"), clip=clip)
        label = "unclipped" if clip is None else "clipped to 1..5"
        print(f"5-fold CV ({label}): RMSE {scores['rmse'].mean():.4f} "
              f"(folds {np.round(scores['rmse'], 4).tolist()}), MAE {scores['mae'].mean():.4f}")
    train, test = official_split(ratings, folder)
    model = sa.ExplicitALS(**{**BASE, **result.best_params_}).fit(train)
    print(f"official u1.base/u1.test: RMSE {rmse(model, test):.4f} "
          f"(clipped {rmse(model, test, clip=(1, 5)):.4f}), MAE {mae(model, test):.4f}")


if __name__ == "__main__":
    main()
