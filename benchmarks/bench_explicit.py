"""asv benchmarks of the explicit model: half-step kernels, fit, top-n, memory, import, quality.

Data is generated from fixed seeds; JIT compilation happens in ``setup`` so that timings
measure the kernels, and the compile time is tracked on its own.
"""

import numpy as np

import sparseals as sa
from sparseals.datasets import synthetic
from sparseals.solvers import explicit_half_step

SHAPE = (6_040, 3_706, 200_000)  # MovieLens-1M-shaped users × items, a fifth of its ratings


def _data(dtype="float32"):
    return synthetic(*SHAPE, rank=10, seed=0, dtype=dtype)


class HalfStep:
    params = ([16, 64, 128], ["float32", "float64"], [False, True])
    param_names = ["factors", "dtype", "nonnegative"]

    def setup(self, factors, dtype, nonnegative):
        self.ratings = _data(dtype)
        rng = np.random.default_rng(0)
        self.items = np.abs(rng.standard_normal((SHAPE[1], factors))).astype(dtype)
        self.rows = self.ratings.by_user
        explicit_half_step(self.rows, self.items, regularization=0.1, nonnegative=nonnegative)

    def time_user_half_step(self, factors, dtype, nonnegative):
        explicit_half_step(self.rows, self.items, regularization=0.1, nonnegative=nonnegative)


class Fit:
    params = ([16, 64], [False, True])
    param_names = ["factors", "biases"]
    timeout = 300

    def setup(self, factors, biases):
        self.ratings = _data()
        self.model = sa.ExplicitALS(factors=factors, biases=biases, iterations=1,
                                    random_state=0).fit(self.ratings)

    def time_iteration(self, factors, biases):
        self.model._iterate(self.ratings)

    def peakmem_fit(self, factors, biases):
        sa.ExplicitALS(factors=factors, biases=biases, iterations=2, random_state=0).fit(
            self.ratings)

    def track_final_loss(self, factors, biases):
        model = sa.ExplicitALS(factors=factors, biases=biases, iterations=5, random_state=0)
        return model.fit(self.ratings).loss_history_[-1]


class NonnegativeFit:
    """Non-negative fits: an iteration from fitted factors (the NNLS solves start from
    them), and the float32 loss, which once rose when the solver dropped small factors."""
    params = [16, 64]
    param_names = ["factors"]
    timeout = 300

    def setup(self, factors):
        self.ratings = _data()
        self.model = sa.ExplicitALS(factors=factors, nonnegative=True, iterations=1,
                                    random_state=0).fit(self.ratings)

    def time_iteration(self, factors):
        self.model._iterate(self.ratings)

    def track_final_loss(self, factors):
        model = sa.ExplicitALS(factors=factors, nonnegative=True, iterations=5, random_state=0)
        return model.fit(self.ratings).loss_history_[-1]


class TopN:
    params = [10, 100]
    param_names = ["n"]

    def setup(self, n):
        ratings = _data()
        self.model = sa.ExplicitALS(factors=64, iterations=1, random_state=0).fit(ratings)
        self.users = np.arange(ratings.shape[0])
        self.model.recommend(self.users[:10], n=n)

    def time_recommend_all_users(self, n):
        self.model.recommend(self.users, n=n)


class Quality:
    timeout = 300

    def setup(self):
        ratings = _data()
        rng = np.random.default_rng(1)
        rows = np.repeat(np.arange(ratings.shape[0]), np.diff(ratings.by_user.indptr))
        test = rng.random(ratings.nnz) < 0.1
        by_user = ratings.by_user
        self.train = sa.Ratings.from_coo(rows[~test], by_user.indices[~test],
                                         by_user.data[~test], shape=ratings.shape)
        self.test = (rows[test], by_user.indices[test], by_user.data[test])

    def track_test_rmse(self):
        model = sa.ExplicitALS(factors=16, regularization=0.05, reg_exponent=1.0, biases=True,
                               iterations=10, random_state=0).fit(self.train)
        users, items, values = self.test
        return float(np.sqrt(np.mean((model.predict(users, items) - values) ** 2)))

    track_test_rmse.unit = "rmse"


def timeraw_import():
    return "import sparseals"


def timeraw_first_fit_with_cached_kernels():
    return """
    import numpy as np, sparseals as sa
    sa.ExplicitALS(factors=8, iterations=2).fit(np.eye(20) + 1)
    """
