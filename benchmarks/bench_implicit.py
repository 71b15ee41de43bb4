"""asv benchmarks of the implicit model: half-steps per solver, fit, top-n, quality (NDCG).

Same conventions as bench_explicit.py: generated data from fixed seeds, JIT in ``setup``.
"""

import numpy as np

import sparseals as sa
from sparseals.datasets import synthetic
from sparseals.metrics import auc, ndcg_at_k
from sparseals.model_selection import leave_k_out
from sparseals.solvers import implicit_half_step

SHAPE = (6_040, 3_706, 200_000)  # MovieLens-1M-shaped users × items, a fifth of its ratings


def _data(dtype="float32"):
    return synthetic(*SHAPE, rank=10, implicit=True, seed=0, dtype=dtype)


class HalfStep:
    params = ([16, 64, 128], ["float32", "float64"], ["cg", "cholesky"])
    param_names = ["factors", "dtype", "solver"]

    def setup(self, factors, dtype, solver):
        self.rows = _data(dtype).by_user
        rng = np.random.default_rng(0)
        self.items = (0.1 * rng.standard_normal((SHAPE[1], factors))).astype(dtype)
        implicit_half_step(self.rows, self.items, regularization=0.1, solver=solver)

    def time_user_half_step(self, factors, dtype, solver):
        implicit_half_step(self.rows, self.items, regularization=0.1, solver=solver)


class Fit:
    params = ([64, 128], ["cg", "cholesky"])
    param_names = ["factors", "solver"]
    timeout = 300

    def setup(self, factors, solver):
        self.ratings = _data()
        self.model = sa.ImplicitALS(factors=factors, solver=solver, iterations=1,
                                    random_state=0).fit(self.ratings)

    def time_iteration(self, factors, solver):
        self.model._iterate(self.ratings)

    def peakmem_fit(self, factors, solver):
        sa.ImplicitALS(factors=factors, solver=solver, iterations=2, random_state=0).fit(
            self.ratings)


class TopN:
    params = [10, 100]
    param_names = ["n"]

    def setup(self, n):
        ratings = _data()
        self.model = sa.ImplicitALS(factors=64, iterations=3, random_state=0).fit(ratings)
        self.users = np.arange(ratings.shape[0])
        self.model.recommend(self.users, n=n)

    def time_recommend_all_users(self, n):
        self.model.recommend(self.users, n=n)


class Evaluation:
    """Held-out metrics of a fitted model: one held-out item per user, as in the peers'
    leave-one-out evaluations (AUC ranks it against every unseen item)."""

    def setup(self):
        train, self.test = leave_k_out(_data(), k=1, min_ratings=5, random_state=1)
        self.model = sa.ImplicitALS(factors=64, iterations=3, random_state=0).fit(train)
        auc(self.model, self.test)
        ndcg_at_k(self.model, self.test, k=10)

    def time_auc(self):
        auc(self.model, self.test)

    def time_ndcg_at_10(self):
        ndcg_at_k(self.model, self.test, k=10)


class Quality:
    timeout = 300

    def setup(self):
        self.train, self.test = leave_k_out(_data(), k=1, min_ratings=5, random_state=1)

    def track_ndcg_at_10(self):
        model = sa.ImplicitALS(factors=32, iterations=8, random_state=0).fit(self.train)
        return ndcg_at_k(model, self.test, k=10)

    track_ndcg_at_10.unit = "ndcg"
