"""Scoring a fitted model from several Python threads at once gives the serial answers."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import sparseals as sa


def test_parallel_callers_get_the_serial_answers():
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((300, 200)) < 0.1, rng.integers(1, 6, (300, 200)), np.nan)
    model = sa.ExplicitALS(factors=8, iterations=3, random_state=0, biases=True).fit(dense)
    users = np.arange(300)
    calls = [
        lambda: model.recommend(users, n=10),
        lambda: model.similar_items(np.arange(200), n=5),
        lambda: model.similar_users(users[:50], n=5),
        lambda: (model.predict(users, users % 200),),
        lambda: (model.fold_in([1, 2, 3], [5.0, 1.0, 4.0])[0],),
    ]
    serial = [call() for call in calls]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(calls[i % len(calls)]) for i in range(40)]
        results = [f.result(timeout=120) for f in futures]
    for i, result in enumerate(results):
        for got, expected in zip(result, serial[i % len(calls)]):
            np.testing.assert_array_equal(got, expected)
