"""The explicit model on a real data set (MovieLens 100K, official split u1)."""

import numpy as np

import sparseals as sa


def read_u_data(path):
    table = np.loadtxt(path, dtype=np.int64)
    return table[:, 0] - 1, table[:, 1] - 1, table[:, 2].astype(np.float64)


def test_movielens_100k_official_split(shared_data):
    train = read_u_data(shared_data / "ml-100k" / "u1.base")
    test = read_u_data(shared_data / "ml-100k" / "u1.test")
    ratings = sa.Ratings.from_coo(*train, shape=(943, 1682))
    assert ratings.nnz == 80_000
    model = sa.ExplicitALS(factors=20, regularization=0.1, reg_exponent=1.0, biases=True,
                           iterations=15, random_state=0).fit(ratings)
    assert np.all(np.diff(model.loss_history_) <= 0)
    predicted = np.clip(model.predict(test[0], test[1]), 1, 5)
    rmse = np.sqrt(np.mean((predicted - test[2]) ** 2))
    assert rmse < 0.95  # a global-mean predictor scores ~1.15 on this split
