"""sparseals.distributed: blocked ALS on a Dask cluster equals the single-machine fit."""

import gc
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp

import sparseals as sa
from sparseals import solvers

pytest.importorskip("distributed", reason="dask[distributed] is not installed "
                                          "(pip install sparseals[dask])")
dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pandas")
pd = pytest.importorskip("pandas")

from dask.distributed import Client, LocalCluster  # noqa: E402

import sparseals.distributed as sd  # noqa: E402

TIMEOUT = 60  # seconds per half-step: a hang fails the test instead of blocking CI


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, death_timeout=30)
    client = Client(cluster, timeout=30)
    yield client
    client.close(timeout=30)
    cluster.close(timeout=30)


def _matrix(seed=0, n_users=70, n_items=50, density=0.08):
    """Sparse ratings with a few users and items without any rating."""
    matrix = sp.random(n_users, n_items, density=density, format="csr", dtype=np.float64,
                       random_state=np.random.default_rng(seed))
    matrix.data = np.ceil(matrix.data * 5)
    return matrix


MODELS = {
    "explicit": lambda **kw: sa.ExplicitALS(factors=4, regularization=0.1, **kw),
    "explicit-biases": lambda **kw: sa.ExplicitALS(factors=4, regularization=0.1, biases=True,
                                                   reg_exponent=1.0, **kw),
    "explicit-nonnegative": lambda **kw: sa.ExplicitALS(factors=4, regularization=0.1,
                                                        nonnegative=True, **kw),
    "implicit-cg": lambda **kw: sa.ImplicitALS(factors=4, regularization=0.1, alpha=2.0, **kw),
    "implicit-exact": lambda **kw: sa.ImplicitALS(factors=4, regularization=0.1, alpha=2.0,
                                                  solver="cholesky", reg_exponent=1.0,
                                                  unobserved_weight=0.5, **kw),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_blocked_fit_equals_single_machine(client, name):
    X = _matrix()
    make = MODELS[name]
    reference = make(iterations=3, dtype="float64", random_state=3).fit(X)
    for routing in ("broadcast", "routed"):
        for blocks in (1, 2, 3):
            model = sd.fit(make(iterations=3, dtype="float64", random_state=3), X, client,
                           blocks=blocks, routing=routing, timeout=TIMEOUT)
            where = f"{name}, {routing}, {blocks} blocks"
            np.testing.assert_allclose(model.user_factors_, reference.user_factors_, rtol=0,
                                       atol=1e-5, err_msg=where)
            np.testing.assert_allclose(model.item_factors_, reference.item_factors_, rtol=0,
                                       atol=1e-5, err_msg=where)
            np.testing.assert_allclose(model.loss_history_, reference.loss_history_, rtol=1e-9,
                                       err_msg=where)
            if name == "explicit-biases":
                np.testing.assert_allclose(model.user_biases_, reference.user_biases_, atol=1e-5)
                np.testing.assert_allclose(model.item_biases_, reference.item_biases_, atol=1e-5)
                assert model.global_mean_ == pytest.approx(reference.global_mean_, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_explicit_blocked_fit_is_the_single_machine_fit_bitwise(client, dtype):
    """fit's docstring promises ExplicitALS's factors and biases bitwise."""
    X = _matrix(seed=4, n_users=120, n_items=90)
    for name in ("explicit", "explicit-biases", "explicit-nonnegative"):
        reference = MODELS[name](iterations=3, dtype=dtype, random_state=3).fit(X)
        for routing in ("broadcast", "routed"):
            model = sd.fit(MODELS[name](iterations=3, dtype=dtype, random_state=3), X, client,
                           blocks=2, routing=routing, timeout=TIMEOUT)
            for attribute in ("user_factors_", "item_factors_", "user_biases_", "item_biases_"):
                np.testing.assert_array_equal(getattr(model, attribute),
                                              getattr(reference, attribute),
                                              err_msg=f"{name}, {routing}, {attribute}")


def test_blocked_fit_does_not_depend_on_num_threads(client):
    X = _matrix(seed=5, n_users=120, n_items=90)
    for name in ("explicit-biases", "implicit-cg", "implicit-exact"):
        fits = [sd.fit(MODELS[name](iterations=2, random_state=0, num_threads=threads), X,
                       client, blocks=2, timeout=TIMEOUT) for threads in (1, 2, 1)]
        for other in fits[1:]:
            np.testing.assert_array_equal(other.user_factors_, fits[0].user_factors_, err_msg=name)
            np.testing.assert_array_equal(other.item_factors_, fits[0].item_factors_, err_msg=name)
            assert other.loss_history_ == fits[0].loss_history_


def test_uneven_blocks_and_float32(client):
    X = _matrix(seed=1)
    reference = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(X)
    model = sd.fit(sa.ExplicitALS(factors=3, iterations=2, random_state=0), X, client,
                   blocks=(3, 2), routing="routed", timeout=TIMEOUT)
    assert model.user_factors_.dtype == np.float32
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, atol=1e-4)


def test_history_records_bytes_and_routing_sends_fewer(client):
    X = _matrix(seed=2, n_users=120, n_items=90, density=0.03)
    history = {}
    for routing in ("broadcast", "routed"):
        model = sd.fit(sa.ExplicitALS(factors=4, iterations=2, random_state=0), X, client,
                       blocks=3, routing=routing, timeout=TIMEOUT)
        history[routing] = model.distributed_history_
        assert [h["iteration"] for h in model.distributed_history_] == [0, 1]
        assert [h["loss"] for h in model.distributed_history_] == model.loss_history_
        assert all(h["seconds"] >= 0 for h in model.distributed_history_)
    # broadcast: each of the 3 blocks per side receives the whole other side (K float32 a row)
    assert history["broadcast"][0]["bytes_broadcast"] == 3 * (120 + 90) * 4 * 4
    assert 0 < history["routed"][0]["bytes_routed"] < history["broadcast"][0]["bytes_broadcast"]


def test_callback_and_recommend_on_the_fitted_model(client):
    X = _matrix(seed=4)
    calls = []
    model = sd.fit(sa.ImplicitALS(factors=4, iterations=3, random_state=0,
                                  callback=lambda it, loss: calls.append((it, loss))),
                   X, client, timeout=TIMEOUT)  # default: one block per worker
    assert calls == list(enumerate(model.loss_history_))
    reference = sa.ImplicitALS(factors=4, iterations=3, random_state=0).fit(X)
    users = np.arange(10)
    got, want = model.recommend(users, n=5), reference.recommend(users, n=5)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("biases", [False, True])
def test_factors_left_on_the_cluster_still_recommend(client, biases):
    X = _matrix(seed=8)
    gathered = sd.fit(sa.ExplicitALS(factors=4, iterations=2, biases=biases, random_state=0),
                      X, client, blocks=3, timeout=TIMEOUT)
    model = sd.fit(sa.ExplicitALS(factors=4, iterations=2, biases=biases, random_state=0),
                   X, client, blocks=3, gather=False, timeout=TIMEOUT)
    assert isinstance(model.user_factors_, sd.DistributedRows)
    assert len(model.user_factors_) == X.shape[0] and model.user_factors_.shape == (70, 4)
    assert isinstance(model.item_factors_, np.ndarray)
    users = np.array([5, 0, 69, 33, 34])
    np.testing.assert_array_equal(model.user_factors_[users], gathered.user_factors_[users])
    np.testing.assert_array_equal(model.user_factors_[-1], gathered.user_factors_[-1])
    np.testing.assert_array_equal(model.user_factors_[10:40:3], gathered.user_factors_[10:40:3])
    np.testing.assert_array_equal(np.asarray(model.user_factors_), gathered.user_factors_)
    for got, want in zip(model.recommend(users, n=4), gathered.recommend(users, n=4)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.predict(users, [1, 2, 3, 4, 5]),
                                  gathered.predict(users, [1, 2, 3, 4, 5]))
    gathers = []
    real_gather = sd.DistributedRows.gather
    sd.DistributedRows.gather = lambda rows: gathers.append(1) or real_gather(rows)
    try:  # one gather for a call, not three (norms, then scores)
        for got, want in zip(model.similar_users(5, n=3), gathered.similar_users(5, n=3)):
            np.testing.assert_array_equal(got, want)
    finally:
        sd.DistributedRows.gather = real_gather
    assert len(gathers) == 1
    with pytest.raises(TypeError, match="gather=False.*gather()"):
        model.user_factors_[0] = 1.0
    with pytest.raises(ValueError, match="gather must be True or False"):
        sd.fit(sa.ExplicitALS(), X, client, gather="no")


def test_implicit_half_step_on_the_referenced_rows_only():
    """A routed block gets only the factor rows it references, the whole side's Gram
    matrix and row count: the same rows come out as from the whole other side."""
    X = _matrix(seed=7, n_users=30, n_items=200, density=0.02)
    other = np.random.default_rng(0).standard_normal((200, 5))
    referenced = np.unique(X.indices)
    assert len(referenced) < 200
    local = sp.csr_matrix((X.data, np.searchsorted(referenced, X.indices), X.indptr),
                          shape=(30, len(referenced)))
    settings = dict(regularization=0.2, alpha=3.0, unobserved_weight=0.5, reg_exponent=1.0)
    for solver in ("cholesky", "cg"):
        whole, _ = solvers.implicit_half_step(X, other, solver=solver, **settings)
        routed, _ = solvers.implicit_half_step(local, other[referenced], solver=solver,
                                                  other_gram=other.T @ other, n_other=200,
                                                  **settings)
        np.testing.assert_allclose(routed, whole, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="other_gram has shape"):
        solvers.implicit_half_step(local, other[referenced], other_gram=np.eye(4),
                                      **settings)
    with pytest.raises(ValueError, match="n_other is 3 but other_factors has"):
        solvers.implicit_half_step(local, other[referenced], other_gram=other.T @ other,
                                   n_other=3, **settings)


def _frame(seed=0, n_users=60, n_items=45, n=500):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    return pd.DataFrame({
        "user": [f"u{k}" for k in pairs // n_items],  # strings sort differently from numbers
        "item": [f"item-{k}" for k in pairs % n_items],
        "stars": rng.integers(1, 6, size=n).astype(np.float64),
    })


@pytest.mark.parametrize("routing", ["broadcast", "routed"])
def test_dask_dataframe_with_string_ids_gives_the_same_recommendations(client, routing):
    frame = _frame()
    ratings = sa.Ratings.from_dataframe(frame, user="user", item="item", rating="stars",
                                        dtype="float64")
    reference = sa.ExplicitALS(factors=4, iterations=3, dtype="float64", biases=True,
                               random_state=1).fit(ratings)
    model = sd.fit(sa.ExplicitALS(factors=4, iterations=3, dtype="float64", biases=True,
                                  random_state=1),
                   dd.from_pandas(frame, npartitions=3), client, blocks=(2, 3), routing=routing,
                   user="user", item="item", rating="stars", timeout=TIMEOUT)
    np.testing.assert_array_equal(model.user_ids_, reference.user_ids_)
    np.testing.assert_array_equal(model.item_ids_, reference.item_ids_)
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, atol=1e-5)
    users = np.arange(len(model.user_ids_))
    got, want = model.recommend(users, n=5), reference.recommend(users, n=5)
    np.testing.assert_array_equal(model.item_ids_[got[0]], reference.item_ids_[want[0]])
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)


def test_dask_dataframe_duplicates_and_missing_columns(client):
    frame = _frame(seed=5)
    doubled = pd.concat([frame, frame.iloc[:3].assign(stars=1.0)], ignore_index=True)
    with pytest.raises(ValueError, match="duplicated .* pass duplicates="):
        sd.fit(sa.ExplicitALS(factors=2, iterations=1), dd.from_pandas(doubled, npartitions=2),
               client, user="user", item="item", rating="stars", timeout=TIMEOUT)
    ratings = sa.Ratings.from_dataframe(doubled, user="user", item="item", rating="stars",
                                        duplicates="last", dtype="float64")
    reference = sa.ExplicitALS(factors=2, iterations=2, dtype="float64", random_state=0).fit(
        ratings)
    model = sd.fit(sa.ExplicitALS(factors=2, iterations=2, dtype="float64", random_state=0),
                   dd.from_pandas(doubled, npartitions=2), client, user="user", item="item",
                   rating="stars", duplicates="last", timeout=TIMEOUT)
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, atol=1e-5)
    with pytest.raises(ValueError, match="item column 'movieId' is not in the DataFrame"):
        sd.fit(sa.ExplicitALS(), dd.from_pandas(frame, npartitions=2), client, user="user")


def test_dask_dataframe_object_ids_are_typed_as_from_dataframe_types_them(client):
    """With Dask's string conversion off, an object id column reaches the workers as it
    is: ints become int64 ids, as in Ratings.from_dataframe; mixed kinds are an error."""
    import dask

    frame = pd.DataFrame({"user": pd.Series([7, 2, 7, 3], dtype=object), "item": [1, 2, 2, 1],
                          "stars": [3.0, 4.0, 5.0, 1.0]})
    with dask.config.set({"dataframe.convert-string": False}):
        model = sd.fit(sa.ExplicitALS(factors=2, iterations=1), dd.from_pandas(frame, 2),
                       client, user="user", item="item", rating="stars", timeout=TIMEOUT)
        local = sa.Ratings.from_dataframe(frame, user="user", item="item", rating="stars")
        assert model.user_ids_.dtype == local.user_ids.dtype == np.int64
        np.testing.assert_array_equal(model.user_ids_, local.user_ids)
        mixed = frame.assign(user=pd.Series([1, "1", 2, "a"], dtype=object))
        with pytest.raises(TypeError, match=r"user column 'user' mixes kinds of ids \(int, str\)"):
            sd.fit(sa.ExplicitALS(factors=2, iterations=1), dd.from_pandas(mixed, 2), client,
                   user="user", item="item", rating="stars", timeout=TIMEOUT)


def test_dask_dataframe_confidences_are_checked_in_the_blocks(client):
    frame = dd.from_pandas(_frame(seed=5), npartitions=2)
    with pytest.raises(ValueError, match=r"the confidences reach .* too large for float32"):
        sd.fit(sa.ImplicitALS(factors=2, alpha=1e30), frame, client, user="user", item="item",
               rating="stars", timeout=TIMEOUT)


def test_parameters_are_validated(client):
    X = _matrix()
    with pytest.raises(ValueError, match="routing must be one of"):
        sd.fit(sa.ExplicitALS(), X, client, routing="gossip")
    with pytest.raises(ValueError, match="blocks must be a positive integer"):
        sd.fit(sa.ExplicitALS(), X, client, blocks=0)
    with pytest.raises(ValueError, match=r"blocks must be an int or a pair"):
        sd.fit(sa.ExplicitALS(), X, client, blocks=(1, 2, 3))
    with pytest.raises(ValueError, match=r"blocks must be one integer, or a tuple or list of "
                                         r"two .*; got array\(\[2, 3\]\)"):
        sd.fit(sa.ExplicitALS(), X, client, blocks=np.array([2, 3]))
    with pytest.raises(TypeError, match="model must be an ExplicitALS or ImplicitALS"):
        sd.fit("als", X, client)
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        sd.fit(sa.ExplicitALS(), X, "tcp://localhost:8786")
    with pytest.raises(ValueError, match="factors must be a positive integer"):
        sd.fit(sa.ExplicitALS(factors=0), X, client)
    with pytest.raises(ValueError, match="duplicates must be one of"):
        sd.fit(sa.ExplicitALS(), X, client, duplicates="first")
    with pytest.raises(ValueError, match="checkpoint must be a positive integer"):
        sd.fit(sa.ExplicitALS(), X, client, checkpoint=0)
    with pytest.raises(TimeoutError, match="longer than timeout="):
        sd.fit(sa.ExplicitALS(iterations=1), X, client, timeout=1e-9)


def test_import_is_lazy_and_missing_dask_gives_the_install_hint():
    code = ("import sys, sparseals; sparseals.ExplicitALS; "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    code = ("import sys; sys.modules['distributed'] = None\n"
            "try:\n    import sparseals.distributed\nexcept ImportError as e:\n"
            "    assert 'pip install sparseals[dask]' in str(e), e\nelse:\n    raise SystemExit(1)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    # the public submodules as attributes (an AttributeError unless imported before)
    code = ("import sparseals as sa; sa.solvers.explicit_half_step; sa.metrics.rmse; "
            "sa.model_selection.KFold; sa.datasets.synthetic; sa.persistence.save; "
            "sa.distributed.fit; assert 'solvers' in dir(sa)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


async def _exit_process():
    os._exit(1)  # the nanny starts a fresh worker process


@pytest.mark.parametrize("name, routing, checkpoint", [("implicit-cg", "routed", None),
                                                      ("explicit-biases", "broadcast", 1)])
def test_a_worker_killed_mid_fit_does_not_change_the_result(client, name, routing, checkpoint):
    X = _matrix(seed=6)
    make = MODELS[name]
    reference = make(iterations=4, dtype="float64", random_state=0).fit(X)
    victim = sorted(client.scheduler_info()["workers"])[0]
    killed = []

    def kill_one_worker(iteration, loss):
        if iteration == 1:
            client.run(_exit_process, workers=[victim], wait=False)
            deadline = time.monotonic() + TIMEOUT
            while victim in client.scheduler_info()["workers"]:  # its blocks are lost now
                assert time.monotonic() < deadline, "the worker did not die"
                time.sleep(0.05)
            killed.append(iteration)

    model = sd.fit(make(iterations=4, dtype="float64", random_state=0, callback=kill_one_worker),
                   X, client, blocks=3, routing=routing, checkpoint=checkpoint, timeout=TIMEOUT)
    assert killed == [1]
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, atol=1e-5)
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, atol=1e-5)
    np.testing.assert_allclose(model.loss_history_, reference.loss_history_, rtol=1e-9)
    client.wait_for_workers(2, timeout=TIMEOUT)


# ------------------------------------------------- found by a probing session (sixteenth)
def test_warm_start_resumes_on_the_cluster_as_on_one_machine(client):
    """distributed.fit drew a random start and cleared loss_history_ whatever warm_start."""
    X = _matrix(seed=3)
    six = sa.ExplicitALS(factors=3, iterations=6, random_state=0, dtype="float64").fit(X)
    model = sa.ExplicitALS(factors=3, iterations=3, random_state=0, dtype="float64",
                           warm_start=True)
    sd.fit(model, X, client, timeout=TIMEOUT)
    sd.fit(model, X, client, timeout=TIMEOUT)
    assert len(model.loss_history_) == 6
    np.testing.assert_allclose(model.user_factors_, six.user_factors_, atol=1e-8)
    np.testing.assert_allclose(model.loss_history_, six.loss_history_, rtol=1e-9)


def test_an_interrupted_fit_keeps_its_last_completed_iteration(client):
    """The model kept its random start beside a loss history of 3 iterations."""
    X = _matrix(seed=3)

    def stop(iteration, loss):
        if iteration == 2:
            raise KeyboardInterrupt

    model = sa.ExplicitALS(factors=3, iterations=5, random_state=0, dtype="float64",
                           callback=stop)
    with pytest.raises(KeyboardInterrupt):
        sd.fit(model, X, client, timeout=TIMEOUT)
    three = sa.ExplicitALS(factors=3, iterations=3, random_state=0, dtype="float64").fit(X)
    assert len(model.loss_history_) == 3
    np.testing.assert_allclose(model.item_factors_, three.item_factors_, atol=1e-8)


def test_rows_left_on_the_cluster_save_pickle_and_take_any_index(client, tmp_path):
    import pickle

    X = _matrix(seed=3)
    model = sd.fit(sa.ExplicitALS(factors=3, random_state=0), X, client, blocks=3,
                   gather=False, timeout=TIMEOUT)
    local = np.asarray(model.user_factors_)
    index = np.array([[0, 1], [5, 69]])
    np.testing.assert_array_equal(model.user_factors_[index], local[index])  # IndexError
    model.save(tmp_path / "m.npz")  # 'the array user_factors_ is missing'
    np.testing.assert_array_equal(sa.load(tmp_path / "m.npz").user_factors_, local)
    copy = pickle.loads(pickle.dumps(model))  # TypeError: cannot pickle 'socket'
    np.testing.assert_array_equal(copy.user_factors_, local)
    assert copy.recommend(0, n=3)[0].tolist() == model.recommend(0, n=3)[0].tolist()


def test_dataframe_columns_for_two_roles_and_duplicates_named_by_their_ids(client):
    frame = pd.DataFrame({"u": [1, 2, 3], "i": [1, 1, 2], "r": [1.0, 2.0, 3.0]})
    local = sa.ExplicitALS(factors=2, iterations=2, random_state=0, dtype="float64").fit(
        sa.Ratings.from_dataframe(frame, user="u", item="i", rating="u", dtype="float64"))
    model = sd.fit(sa.ExplicitALS(factors=2, iterations=2, random_state=0, dtype="float64"),
                   dd.from_pandas(frame, npartitions=2), client, user="u", item="i",
                   rating="u", timeout=TIMEOUT)  # an AttributeError in a worker
    np.testing.assert_allclose(model.user_factors_, local.user_factors_, atol=1e-8)
    twice = pd.DataFrame({"userId": [7, 7, 9, 9], "movieId": [30, 40, 30, 30],
                          "rating": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match=r"duplicated \(user, item\) pairs, among them "
                                         r"\(9, 30\); pass duplicates="):  # was (0, 0)
        sd.fit(sa.ExplicitALS(), dd.from_pandas(twice, npartitions=2), client, blocks=2,
               timeout=TIMEOUT)


def test_a_failed_dataframe_fit_leaves_nothing_on_the_cluster(client):
    """The error's traceback kept every block's future alive, a fit's worth per retry."""
    twice = pd.DataFrame({"userId": [1, 1, 2, 1], "movieId": [1, 2, 2, 1],
                          "rating": [1.0, 2.0, 3.0, 4.0]})
    before = len(client.futures)
    for _ in range(2):
        with pytest.raises(ValueError, match="duplicated"):
            sd.fit(sa.ExplicitALS(), dd.from_pandas(twice, npartitions=2), client,
                   timeout=TIMEOUT)
    deadline = time.time() + 10
    while len(client.futures) > before and time.time() < deadline:
        time.sleep(0.1)
    assert len(client.futures) == before


def _held_on_cluster(client):
    """Tasks whose results the workers still hold."""
    return client.run_on_scheduler(
        lambda dask_scheduler: sum(t.state == "memory" for t in dask_scheduler.tasks.values()))


@pytest.mark.parametrize("as_frame", [False, True])
def test_a_refused_fit_leaves_the_model_and_the_cluster_as_they_were(client, as_frame):
    """The local checks ran only on the workers, after the model was reset: a fitted model
    lost its factors and history, and the failed fit's blocks stayed on the cluster."""
    X = _matrix(seed=3)
    model = sa.ImplicitALS(factors=3, iterations=2, random_state=0).fit(X)
    factors, history = model.item_factors_.copy(), list(model.loss_history_)
    model.reg_exponent = 40.0  # the longest row's weighted λ overflows float32
    data = X
    if as_frame:
        coo = X.tocoo()
        data = dd.from_pandas(pd.DataFrame({"userId": coo.row, "movieId": coo.col,
                                            "rating": coo.data}), npartitions=2)
    held = _held_on_cluster(client)
    with pytest.raises(ValueError, match=r"weighted by reg_exponent=40 is too large"):
        sd.fit(model, data, client)
    np.testing.assert_array_equal(model.item_factors_, factors)
    assert model.loss_history_ == history
    deadline = time.monotonic() + TIMEOUT
    while _held_on_cluster(client) > held:
        assert time.monotonic() < deadline, "the failed fit's blocks stay on the cluster"
        time.sleep(0.1)
    assert not [key for key in client.futures if str(key).startswith("sparseals-")]


def _break_half_steps(broken):
    """On a worker: make (or unmake) every half-step raise."""
    from sparseals.distributed import _steps

    if broken:
        _steps._real_half_step = _steps.half_step

        def half_step(*args, **kwargs):
            raise ArithmeticError("a worker's half-step failed")

        _steps.half_step = half_step
    elif hasattr(_steps, "_real_half_step"):
        _steps.half_step = _steps._real_half_step


def test_a_failure_on_a_worker_releases_the_fits_blocks(client):
    """A half-step raising on a worker left every rating block and factor block on the
    cluster for as long as the error lived (its traceback holds the futures)."""
    X = _matrix(seed=4)
    held = _held_on_cluster(client)
    client.run(_break_half_steps, True)
    try:
        with pytest.raises(ArithmeticError, match="a worker's half-step failed") as failure:
            sd.fit(sa.ExplicitALS(factors=3, iterations=3), X, client)
    finally:
        client.run(_break_half_steps, False)
    assert failure.value is not None  # the error and its traceback are alive here
    deadline = time.monotonic() + TIMEOUT
    while _held_on_cluster(client) > held:
        assert time.monotonic() < deadline, "the failed fit's blocks stay on the cluster"
        time.sleep(0.1)


def test_dask_warm_start_and_refit_follow_model_fit(client):
    """A Dask warm start resumed other users without a word and replaced a model's ids by
    0..n-1; an earlier validated fit's record survived a Dask refit."""
    frame = pd.DataFrame({"u": [f"u{i:02d}" for i in range(30)] * 2,
                          "i": list(range(30)) + list(range(1, 31)), "r": [4.0] * 60})
    ratings = sa.Ratings.from_dataframe(frame, user="u", item="i", rating="r")
    model = sa.ExplicitALS(factors=2, iterations=2, random_state=0, warm_start=True)
    model.fit(ratings, validation=ratings)
    assert hasattr(model, "best_iteration_")
    before = len(model.loss_history_)
    sd.fit(model, ratings.csr, client)
    assert model.user_ids_.tolist() == ratings.user_ids.tolist()
    assert not hasattr(model, "best_iteration_") and len(model.loss_history_) == before + 2
    others = sa.Ratings.from_dataframe(frame.assign(u=frame.u.str.upper()), user="u", item="i",
                                       rating="r")
    with pytest.raises(ValueError, match=r"X's user ids differ from the model's user_ids_"):
        sd.fit(model, others, client)
    model.fit(ratings)  # a local refit drops the Dask fit's report
    assert not hasattr(model, "distributed_history_")


def test_partial_fit_items_with_the_user_factors_on_the_cluster(client):
    """It failed in numba (TypingError) or with "'DistributedRows' has no attribute 'T'"."""
    X = _matrix(seed=5)
    for make in (MODELS["explicit"], MODELS["implicit-exact"]):
        kept = sd.fit(make(iterations=2, random_state=0), X, client, gather=False)
        assert kept.user_factors_.timeout == 30  # without the fit's timeout
        here = sd.fit(make(iterations=2, random_state=0), X, client)
        column = sp.csr_matrix(X[:, [7]])
        kept.partial_fit_items([7], column)
        here.partial_fit_items([7], column)
        # float32: the implicit Gram matrix is summed over the blocks, not one product
        np.testing.assert_allclose(kept.item_factors_, here.item_factors_, rtol=1e-5,
                                   atol=1e-7)


def test_partial_fit_users_with_the_user_factors_on_the_cluster_asks_to_gather(client):
    """Refitting users raised this TypeError, but adding users gathered the whole matrix
    to the client and replaced the DistributedRows with an ndarray, without a word."""
    X = _matrix(seed=6)
    model = sd.fit(MODELS["explicit"](iterations=1, random_state=0), X, client, gather=False,
                   timeout=TIMEOUT)
    row = sp.csr_matrix(X[[3]])
    for users in ([70], [3], [3, 70]):
        with pytest.raises(TypeError, match=r"gather=False\); partial_fit_users changes them: "
                                            r"first bring them to the client with "
                                            r"model.user_factors_ = model.user_factors_"
                                            r"\.gather\(\)"):
            model.partial_fit_users(users, sp.vstack([row] * len(users)).tocsr())
        assert isinstance(model.user_factors_, sd.DistributedRows)
        assert model.user_factors_.shape == (70, 4) and len(model.user_ids_) == 70
    model.user_factors_ = model.user_factors_.gather()
    model.partial_fit_users([70], row)
    assert model.user_factors_.shape == (71, 4)


def test_a_closed_client_is_named():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=":0")  # None: 8787, taken by the module's cluster
    closed = Client(cluster)
    closed.close()
    cluster.close()
    with pytest.raises(ValueError, match="client is closed; give a running Client"):
        sd.fit(sa.ExplicitALS(), _matrix(), closed)  # AttributeError: 'NoneType' ... 'ncores'


# ---------------------------------------------- found by a probing session (Dask engine)
def _submitted(client, monkeypatch, function):
    """A list that gets True for each task of ``function`` the client submits from now
    (and False for any other)."""
    calls = []
    submit = client.submit

    def counting_submit(task, *args, **kwargs):
        calls.append(task is function)
        return submit(task, *args, **kwargs)

    monkeypatch.setattr(client, "submit", counting_submit)
    return calls


def test_routed_blocks_exchange_rows_only_with_the_blocks_they_share_ratings_with(
        client, monkeypatch):
    """Every pair of blocks got a routing task, empty or not: blocks² tasks per half-step
    (200 blocks on 120 users: 80,000 an iteration, a fit that did not end in 600 s)."""
    from sparseals.distributed import _blocks

    routes = _submitted(client, monkeypatch, _blocks.take_rows)
    diagonal = sp.csr_matrix(np.diag(np.arange(1.0, 7.0)))  # user block b rates item block b
    model = sd.fit(sa.ExplicitALS(factors=2, iterations=2, random_state=0, dtype="float64"),
                   diagonal, client, blocks=3, routing="routed", timeout=TIMEOUT)
    assert sum(routes) == 2 * 2 * 3  # iterations × sides × blocks, not × blocks²
    reference = sa.ExplicitALS(factors=2, iterations=2, random_state=0,
                               dtype="float64").fit(diagonal)
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, atol=1e-8)
    # two users without ratings make a block that references no item: it gets none
    tail = sp.vstack([diagonal, sp.csr_matrix((2, 6))]).tocsr()
    model = sd.fit(sa.ExplicitALS(factors=2, iterations=2, random_state=0, dtype="float64"),
                   tail, client, blocks=7, routing="routed", timeout=TIMEOUT)
    reference = sa.ExplicitALS(factors=2, iterations=2, random_state=0,
                               dtype="float64").fit(tail)
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, atol=1e-8)
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, atol=1e-8)


@pytest.mark.parametrize("as_frame", [False, True])
def test_more_blocks_than_rows_makes_one_block_per_row(client, as_frame):
    """Blocks beyond the rows were empty ranges: each still ran its tasks every
    half-step and, broadcast, received a whole copy of the other side's factors."""
    X = sp.csr_matrix(np.arange(1.0, 121.0).reshape(4, 30) % 5 + 1)  # 4 users, 30 items
    data = X
    if as_frame:
        coo = X.tocoo()
        data = dd.from_pandas(pd.DataFrame({"userId": coo.row, "movieId": coo.col,
                                            "rating": coo.data}), npartitions=2)
    model = sd.fit(sa.ExplicitALS(factors=2, iterations=1, random_state=0, dtype="float64"),
                   data, client, blocks=10, timeout=TIMEOUT)
    # 4 user blocks receive the 30 item rows, 10 item blocks the 4 user rows; 8 bytes a value
    assert model.distributed_history_[0]["bytes_broadcast"] == (4 * 30 + 10 * 4) * 2 * 8
    reference = sa.ExplicitALS(factors=2, iterations=1, random_state=0, dtype="float64").fit(X)
    np.testing.assert_allclose(model.user_factors_, reference.user_factors_, atol=1e-8)


def test_a_timed_out_fit_releases_its_blocks_while_the_error_lives(client):
    """Dask's own TimeoutError, chained as the cause, kept distributed's waiting closure
    and with it the rating blocks' futures (frames can be cleared, closures cannot)."""
    X = _matrix(seed=4)
    with pytest.raises(TimeoutError, match="longer than timeout=") as failure:
        sd.fit(sa.ExplicitALS(factors=3, iterations=2), X, client, timeout=1e-9)
    assert failure.value is not None  # the error and its traceback are alive here
    deadline = time.monotonic() + TIMEOUT
    while [key for key in client.futures if str(key).startswith("sparseals-")]:
        assert time.monotonic() < deadline, "the timed-out fit's blocks stay on the cluster"
        time.sleep(0.1)
        gc.collect()  # Dask's error, once its wait is cancelled, is cyclic garbage


def test_a_bad_rating_is_named_by_its_row_in_the_whole_frame(client):
    """The position counted from the partition's start: row 4 of the frame (row 1 of the
    second partition) was reported as position 1."""
    frame = pd.DataFrame({"userId": [1, 2, 3, 3, 4, 5], "movieId": [5, 5, 6, 7, 5, 6],
                          "rating": [1.0, 2.0, 3.0, 4.0, np.nan, 6.0]})
    with pytest.raises(ValueError, match=r"first at position 4: nan"):
        sa.Ratings.from_dataframe(frame)
    data = dd.from_pandas(frame, npartitions=2)
    assert data.get_partition(1).compute().index[0] == 3
    with pytest.raises(ValueError, match=r"rating column 'rating' .*first at position 4: nan"):
        sd.fit(sa.ExplicitALS(factors=2, iterations=1), data, client, timeout=TIMEOUT)


def test_a_negative_confidence_is_named_by_its_user_and_item(client):
    """The error gave the value's position in one user block's storage ('stored
    position 2'), which names nothing the user can find."""
    frame = pd.DataFrame({"userId": ["a", "b", "c", "c", "d", "e"],
                          "movieId": [5, 5, 6, 7, 5, 6], "rating": [1.0, 2, 3, 4, -5, 6]})
    with pytest.raises(ValueError, match=r"data holds negative values \(first at the "
                                         r"\(user, item\) pair \(d, 5\): -5.0\), which "
                                         r"confidence='linear'"):
        sd.fit(sa.ImplicitALS(factors=2, iterations=1), dd.from_pandas(frame, npartitions=2),
               client, blocks=2, timeout=TIMEOUT)


def test_rows_left_on_the_cluster_take_row_and_column_keys_as_numpy_does(client):
    """(row, column) with a scalar row raised IndexError ('too many indices'), row and
    column arrays gave every row × every column instead of the pairs, and an empty
    list raised IndexError."""
    model = sd.fit(sa.ExplicitALS(factors=3, iterations=1, random_state=0), _matrix(seed=3),
                   client, blocks=3, gather=False, timeout=TIMEOUT)
    local = np.asarray(model.user_factors_)
    for key in [(3, 1), (-1, slice(0, 2)), (np.array([0, 5, 69]), np.array([1, 0, 2])),
                (np.array([[1, 2], [60, 1]]), 2), (slice(5, 9), [0, 2]), []]:
        np.testing.assert_array_equal(model.user_factors_[key], local[key], err_msg=repr(key))


def test_dataframe_item_blocks_stack_only_the_user_blocks_that_rate_them(client, monkeypatch):
    """Each item block stacked a column range of every user block, empty or not:
    blocks² setup tasks (200 blocks on 120 users: 10,000, most of them empty)."""
    from sparseals.distributed import _encode

    ranges = _submitted(client, monkeypatch, _encode.column_range)
    frame = pd.DataFrame({"userId": range(6), "movieId": range(6), "rating": range(1, 7)})
    model = sd.fit(sa.ExplicitALS(factors=2, iterations=2, random_state=0, dtype="float64"),
                   dd.from_pandas(frame, npartitions=2), client, blocks=3, timeout=TIMEOUT)
    assert sum(ranges) == 3  # user block b rates item block b only, not 3 × 3
    reference = sa.ExplicitALS(factors=2, iterations=2, random_state=0, dtype="float64").fit(
        sa.Ratings.from_dataframe(frame, dtype="float64"))
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, atol=1e-8)


# ---------------------------------------------- found by a probing session (twentieth)
def _error_within(seconds, function):
    """The exception ``function()`` raises, failing the test if it takes ``seconds`` or
    more (a thread: a hang must fail the test, not block it)."""
    import threading

    outcome = []

    def run():
        try:
            function()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"{function} did not end within {seconds} s"
    return outcome[0]


def test_rows_left_on_a_cluster_without_workers_fail_within_their_timeout(tmp_path):
    """Pickling or saving a model whose user factors stayed on a cluster whose every
    worker had died blocked for ever (Dask waits for a worker to recompute them)."""
    import pickle

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=":0")
    client = Client(cluster)
    try:
        model = sd.fit(sa.ExplicitALS(factors=2, iterations=1, random_state=0), _matrix(),
                       client, gather=False, timeout=TIMEOUT)
        assert model.user_factors_.timeout == TIMEOUT  # the fit's
        model.user_factors_.timeout = 1
        cluster.scale(0)
        deadline = time.monotonic() + TIMEOUT
        while client.nthreads():
            assert time.monotonic() < deadline, "the worker did not leave"
            time.sleep(0.05)
        for action in (lambda: pickle.dumps(model), lambda: model.save(tmp_path / "m.npz"),
                       lambda: model.recommend(0)):
            error = _error_within(TIMEOUT / 2, action)
            assert isinstance(error, TimeoutError), error
            assert "did not arrive within 1 seconds" in str(error)
        with pytest.raises(ValueError, match="timeout must be a non-negative number"):
            model.user_factors_.timeout = "long"
    finally:
        client.close()
        cluster.close()
    error = _error_within(TIMEOUT / 2, lambda: pickle.dumps(model))
    assert isinstance(error, RuntimeError) and "the client is closed" in str(error), error


@pytest.mark.parametrize("name", ["explicit", "explicit-biases", "implicit-exact",
                                  "implicit-cg"])
def test_partial_fit_items_fetches_only_the_users_it_references(client, monkeypatch, name):
    """Each partial_fit_items call gathered the whole user factor matrix from the cluster."""
    X = _matrix(seed=5)
    make = MODELS[name]
    kept = sd.fit(make(iterations=2, random_state=0, dtype="float64"), X, client, blocks=3,
                  gather=False, timeout=TIMEOUT)
    here = sd.fit(make(iterations=2, random_state=0, dtype="float64"), X, client, blocks=3,
                  timeout=TIMEOUT)
    fetched = []
    getitem = sd.DistributedRows.__getitem__
    monkeypatch.setattr(sd.DistributedRows, "__getitem__",
                        lambda rows, key: fetched.append(np.array(key)) or getitem(rows, key))
    monkeypatch.setattr(sd.DistributedRows, "gather",
                        lambda rows: pytest.fail("the whole user factor matrix was gathered"))
    for items in ([7], [3, 20, 21], list(range(0, 50, 2))):  # few users referenced, then most
        columns = sp.csc_matrix(X[:, items])
        kept.partial_fit_items(items, columns)
        here.partial_fit_items(items, columns)
        assert fetched[-1].tolist() == np.unique(columns.indices).tolist()
        if name.startswith("explicit"):  # the same per-row systems: the same bits
            np.testing.assert_array_equal(kept.item_factors_, here.item_factors_)
        else:  # the users' Gram matrix is summed over the blocks
            np.testing.assert_allclose(kept.item_factors_, here.item_factors_, rtol=1e-12,
                                       atol=1e-12, err_msg=str(items))
        if name == "explicit-biases":
            np.testing.assert_allclose(kept.item_biases_, here.item_biases_, rtol=1e-12,
                                       atol=1e-12)
    added = sp.csc_matrix(X[:, [1]])  # a new item
    kept.partial_fit_items([50], added)
    here.partial_fit_items([50], added)
    np.testing.assert_allclose(kept.item_factors_, here.item_factors_, rtol=1e-12, atol=1e-12)


def test_a_dataframe_fit_on_a_cluster_without_workers_ends_at_its_timeout():
    """Encoding a Dask DataFrame gathered the ids and the blocks' summaries without a
    limit: with timeout= given, a fit on a cluster without workers blocked for ever."""
    cluster = LocalCluster(n_workers=0, processes=False, dashboard_address=":0")
    client = Client(cluster)
    frame = dd.from_pandas(_frame(), npartitions=2)
    try:
        for data, step in ((frame, "encoding the DataFrame"), (_matrix(), "building the blocks")):
            error = _error_within(TIMEOUT / 2, lambda: sd.fit(
                sa.ExplicitALS(factors=2, iterations=1), data, client, user="user", item="item",
                rating="stars", timeout=1))
            assert isinstance(error, TimeoutError), error
            assert str(error).startswith(f"{step}") and "longer than timeout=1.0" in str(error)
        deadline = time.monotonic() + TIMEOUT
        while [key for key in client.futures if str(key).startswith("sparseals-")]:
            assert time.monotonic() < deadline, "the timed-out fits' futures stay"
            time.sleep(0.1)
            gc.collect()
    finally:
        client.close()
        cluster.close()


def test_a_pandas_dataframe_is_refused_naming_the_dask_dataframe(client):
    """The message listed Ratings, scipy.sparse and numpy only, not the Dask DataFrame
    that distributed.fit also takes, nor how to make one."""
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [1, 2], "rating": [1.0, 2.0]})
    with pytest.raises(TypeError, match=r"a dense numpy array or a dask\.dataframe\.DataFrame; "
                                        r"got DataFrame \(for a pandas DataFrame: dask\."
                                        r"dataframe\.from_pandas"):
        sd.fit(sa.ExplicitALS(), frame, client)
    with pytest.raises(TypeError, match=r"or a dask\.dataframe\.DataFrame; got list$"):
        sd.fit(sa.ExplicitALS(), [[1.0]], client)


def test_factor_blocks_carried_by_their_tasks_do_not_warn_of_a_large_graph(client):
    """The rating blocks' tasks were exempt from Dask's "Sending large graph" warning, but
    not the factor blocks' (the start, and each checkpoint): a large model warned twice."""
    import warnings

    import dask

    X = _matrix(seed=2, n_users=2000, density=0.02)  # a factor block: 1000 × 4 float32
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "5kB"}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = sd.fit(sa.ExplicitALS(factors=4, iterations=2, random_state=0), X, client,
                           checkpoint=1, timeout=TIMEOUT)
    reference = sa.ExplicitALS(factors=4, iterations=2, random_state=0).fit(X)
    np.testing.assert_allclose(model.item_factors_, reference.item_factors_, atol=1e-5)


@pytest.mark.parametrize("as_frame", [False, True])
def test_blocks_are_spread_over_every_worker_not_those_scheduler_info_lists(client, monkeypatch,
                                                                          as_frame):
    """The blocks went to the workers of client.scheduler_info()["workers"], which some
    distributed releases cut to the first five: a larger cluster's other workers got none.
    (Simulated here on two workers by a scheduler_info that lists one.)"""
    import importlib

    from distributed import wait

    from sparseals.distributed import _encode

    fit_module = importlib.import_module("sparseals.distributed.fit")  # not the function

    info = client.scheduler_info
    first = sorted(client.nthreads())[0]

    def truncated(*args, **kwargs):
        result = info(*args, **kwargs)
        return {**result, "workers": {first: result["workers"][first]}}

    monkeypatch.setattr(client, "scheduler_info", truncated)
    X = _matrix(seed=1)
    if as_frame:
        coo = X.tocoo()
        frame = dd.from_pandas(pd.DataFrame({"userId": coo.row, "movieId": coo.col,
                                             "rating": coo.data}), npartitions=2)
        layout = _encode.layout_from_dataframe(client, frame, "userId", "movieId", "rating",
                                               np.float32, (4, 4), False, None)
    else:
        layout = fit_module._layout_from_ratings(client, sa.Ratings.from_sparse(X), (4, 4),
                                                 False)
    blocks = layout["user"] + layout["item"]
    wait(blocks, timeout=TIMEOUT)
    holders = {address for places in client.who_has(blocks).values() for address in places}
    client.cancel(blocks)
    assert holders == set(client.nthreads())


def test_rows_left_on_the_cluster_and_cancelled_say_so(client):
    """Rows cancelled on the cluster (a restart, a scheduler lost) raised Dask's
    "1 Future cancelled" (FuturesCancelledError), which names neither the rows nor a way on."""
    import pickle

    model = sd.fit(sa.ExplicitALS(factors=2, iterations=1, random_state=0), _matrix(), client,
                   gather=False, timeout=TIMEOUT)
    client.cancel(model.user_factors_._futures)
    for action in (lambda: pickle.dumps(model), lambda: model.recommend(0)):
        with pytest.raises(RuntimeError, match=r"the user factors left on the cluster "
                                               r"\(gather=False\) were cancelled: was the "
                                               r"cluster restarted or closed\? Fit again"):
            action()


def test_a_dataframe_user_or_item_column_of_none_or_a_list_is_named(client):
    """user=None passed the column check (None is for rating alone) and failed later with
    KeyError '[nan] not in index'; a list of names raised "unhashable type: 'list'"."""
    frame = dd.from_pandas(_frame(), npartitions=2)
    for kw, shown in [(dict(user=None), "user column None"), (dict(item=None), "item column None"),
                      (dict(user=["user"]), r"user column \['user'\]")]:
        kw = {"user": "user", "item": "item", "rating": "stars", **kw}
        with pytest.raises(ValueError, match=rf"{shown} is not in the DataFrame; its columns "
                                             r"are \['user', 'item', 'stars'\]"):
            sd.fit(sa.ExplicitALS(), frame, client, timeout=TIMEOUT, **kw)
