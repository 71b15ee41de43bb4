"""Implicit-feedback ALS (issue 3): kernel, model, top-n, incremental updates, parity."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp

import naive
import sparseals as sa
from sparseals.datasets import synthetic
from sparseals.solvers import implicit_half_step

TOL = {np.float64: 1e-10, np.float32: 1e-4}


def random_counts(rng, n_rows, n_cols, density=0.2, empty_rows=(), zeros=True, high=6):
    """Dense matrix with NaN where not stored, integer counts elsewhere (some stored zeros)."""
    dense = np.full((n_rows, n_cols), np.nan)
    mask = rng.random((n_rows, n_cols)) < density
    mask[list(empty_rows)] = False
    dense[mask] = rng.integers(0 if zeros else 1, high, mask.sum())
    return dense


def to_csr(dense):
    rows, cols = np.nonzero(~np.isnan(dense))
    return sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)


def to_ratings(dense, dtype="float64"):
    rows, cols = np.nonzero(~np.isnan(dense))
    return sa.Ratings.from_coo(rows, cols, dense[rows, cols], shape=dense.shape, dtype=dtype)


# ---------------------------------------------------------------- the half-step kernel
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("confidence", ["linear", "raw"])
@pytest.mark.parametrize("reg_exponent", [0.0, 0.5])
def test_cholesky_step_matches_dense_reference(dtype, confidence, reg_exponent):
    rng = np.random.default_rng(0)
    dense = random_counts(rng, 40, 30, empty_rows=[3, 17])
    other = rng.standard_normal((30, 5))
    got, n_singular = implicit_half_step(
        to_csr(dense), other.astype(dtype), regularization=0.3, alpha=2.0,
        unobserved_weight=0.7, reg_exponent=reg_exponent, confidence=confidence,
        solver="cholesky")
    want = naive.implicit_rows(dense, other.astype(dtype), 0.3, 2.0, 0.7, reg_exponent,
                               confidence)
    assert got.dtype == dtype and n_singular == 0
    np.testing.assert_allclose(got, want, atol=TOL[dtype], rtol=0)
    assert not got[[3, 17]].any()  # empty rows: exactly zero


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha, reg", [(2.0, 0.3), (40.0, 1e-3)])
def test_rows_shorter_than_k_solved_in_the_dual_match_the_reference(dtype, alpha, reg):
    # rows with fewer positive weights than factors (and none negative) take the n × n
    # Woodbury system; lengths 1..24 around K = 16 exercise both forms, and a large α
    # with a small λ (an ill-conditioned system) checks the dual's rounding in float32
    rng = np.random.default_rng(5)
    k, n_cols = 16, 60
    dense = np.full((24, n_cols), np.nan)
    for i in range(24):
        cols = rng.choice(n_cols, i + 1, replace=False)
        dense[i, cols] = rng.integers(1, 6, i + 1)
    other = rng.standard_normal((n_cols, k)) * rng.uniform(0.1, 2.0, k)  # a spread spectrum
    got, n_singular = implicit_half_step(to_csr(dense), other.astype(dtype), regularization=reg,
                                         alpha=alpha, reg_exponent=0.5, solver="cholesky")
    want = naive.implicit_rows(dense, other.astype(dtype), reg, alpha, reg_exponent=0.5)
    assert n_singular == 0
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, atol=TOL[dtype] * scale, rtol=0)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("confidence", ["linear", "raw"])
def test_rows_longer_than_a_gather_block(solver, confidence, monkeypatch):
    # more entries than one gather block: Gram accumulated / CG re-gathers block by block.
    # Weights w = c − α₀ of every sign: with raw confidence |r| − 1 is negative for the
    # stored zeros, zero for ±1 and positive beyond (the Cholesky Gram is split by sign).
    import sparseals._kernels.implicit as kernel

    monkeypatch.setattr(kernel, "GATHER_BYTES", 0)  # blocks of the minimum, 1024 rows
    assert kernel.gather_rows(4, np.float64) == 1024
    rng = np.random.default_rng(1)
    dense = random_counts(rng, 5, 2600, density=0.6)
    if confidence == "raw":
        dense *= rng.choice([-1.0, 1.0], dense.shape)
    other = 0.1 * rng.standard_normal((2600, 4))
    alpha = 2.0 if confidence == "linear" else 1.0
    got, _ = implicit_half_step(to_csr(dense), other, regularization=0.3, alpha=alpha,
                                confidence=confidence, solver=solver, cg_steps=4)
    want = naive.implicit_rows(dense, other, 0.3, alpha, confidence=confidence)
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_rows_gathered_from_a_table_large_enough_to_prefetch(solver):
    # the CG gather hints the CPU to fetch rows ahead only from tables of at least
    # prefetch.MIN_BYTES (the other tests' tables are smaller): the hinted loops give the
    # same solution and row losses, with entries up to the table's last rows
    from sparseals._kernels.loss import implicit_row_losses
    from sparseals._kernels.prefetch import MIN_BYTES, worth_prefetching

    rng = np.random.default_rng(21)
    k, n_rows = 4, 12
    other = 0.1 * rng.standard_normal((MIN_BYTES // (4 * 8), k))
    assert worth_prefetching(other)
    m = len(other)
    cols = [np.unique(np.concatenate([rng.integers(0, m, 60), [m - 1 - i]]))
            for i in range(n_rows)]
    rows = np.repeat(np.arange(n_rows), [len(c) for c in cols])
    values = rng.integers(1, 5, len(rows)).astype(np.float64)
    counts = sp.csr_matrix((values, (rows, np.concatenate(cols))), shape=(n_rows, m))
    got, _ = implicit_half_step(counts, other, regularization=0.2, alpha=2.0, solver=solver,
                                cg_steps=k)
    gram = other.T @ other
    for i in range(n_rows):
        y = other[counts.indices[counts.indptr[i]:counts.indptr[i + 1]]]
        c = 1.0 + 2.0 * counts.data[counts.indptr[i]:counts.indptr[i + 1]]
        a = gram + (y.T * (c - 1.0)) @ y + 0.2 * np.eye(k)
        np.testing.assert_allclose(got[i], np.linalg.solve(a, y.T @ c), rtol=1e-8, atol=1e-10)
    losses = implicit_row_losses(counts.indptr, counts.indices, counts.data, got, other, 1.0,
                                 2.0, 1.0)
    for i in range(n_rows):
        s = other[counts.indices[counts.indptr[i]:counts.indptr[i + 1]]] @ got[i]
        c = 1.0 + 2.0 * counts.data[counts.indptr[i]:counts.indptr[i + 1]]
        np.testing.assert_allclose(losses[i], (c * (1.0 - s) ** 2 - s ** 2).sum(), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_rows_take_their_cg_steps_in_lockstep(dtype, monkeypatch):
    # given the transposed matrix, CG rows longer than a gather block are solved together
    # by passes over it (sparseals/_kernels/long_rows.py): the same steps as row by row
    import sparseals._kernels.implicit as kernel
    import sparseals._kernels.long_rows as long_rows
    from sparseals._kernels.loss import implicit_row_losses
    from sparseals.solvers import _implicit_step, _plan_long_rows

    monkeypatch.setattr(kernel, "GATHER_BYTES", 0)  # rows of more than 1024 entries are long
    monkeypatch.setattr(long_rows, "ENTRY_BLOCK", 7)  # the long rows' entries found in blocks
    rng = np.random.default_rng(9)
    dense = random_counts(rng, 12, 2600, density=0.05, empty_rows=[4])
    dense[[2, 5, 7]] = random_counts(rng, 3, 2600, density=0.6)  # three long rows
    dense[8, :1100] = 0.0  # long, and all its preferences are 0
    dense[:, :3] = dense[:, -40:] = np.nan  # empty columns at both ends and in a 7-block
    dense[:, 1000:1020] = np.nan
    ratings = to_ratings(dense, dtype)
    plan = _plan_long_rows(ratings.by_user, ratings.by_item, 4, dtype)
    assert plan.rows.tolist() == [2, 5, 7, 8] and plan.slots.dtype == np.int16
    monkeypatch.setattr(long_rows, "INT16_SLOTS", 3)  # too many long rows for int16 slots
    wide = _plan_long_rows(ratings.by_user, ratings.by_item, 4, dtype)
    assert wide.slots.dtype == np.int32
    other = (0.1 * rng.standard_normal((2600, 4))).astype(dtype)
    start = (0.1 * rng.standard_normal((12, 4))).astype(dtype)
    got = {}
    for threads in (1, 2):
        for name, long_plan in (("row by row", None), ("lockstep", plan), ("wide", wide)):
            for steps in (3, 4):
                target, losses = start.copy(), np.empty(12)
                _implicit_step(ratings.by_user, other, target, 0.3, 0.5, 2.0, 0.7, "linear",
                               True, steps, threads, row_losses=losses, long_rows=long_plan)
                got[threads, name, steps] = target, losses
    lockstep, losses = got[2, "lockstep", 3]
    row_by_row, _ = got[2, "row by row", 3]
    np.testing.assert_allclose(lockstep, row_by_row, rtol=TOL[dtype], atol=TOL[dtype])
    for a, b in zip(got[1, "lockstep", 3], got[2, "lockstep", 3]):
        np.testing.assert_array_equal(a, b)  # independent of the thread count
    for a, b in zip(got[2, "wide", 3], got[2, "lockstep", 3]):
        np.testing.assert_array_equal(a, b)  # int32 slots: the same passes
    fresh = implicit_row_losses(ratings.by_user.indptr, ratings.by_user.indices,
                                ratings.by_user.data, lockstep, other, 1.0, 2.0, 0.7)
    np.testing.assert_allclose(losses, fresh, rtol=TOL[dtype])
    if dtype == np.float64:  # K = 4 CG steps reach the exact solution
        exact = naive.implicit_rows(dense, other, 0.3, 2.0, unobserved_weight=0.7,
                                    reg_exponent=0.5)
        np.testing.assert_allclose(got[2, "lockstep", 4][0], exact, atol=1e-6)


def test_a_cg_fit_plans_its_long_rows_once_and_counts_them_in_its_memory_estimate(monkeypatch):
    import sparseals._kernels.implicit as kernel
    from sparseals import _memory

    monkeypatch.setattr(kernel, "GATHER_BYTES", 0)  # rows of more than 1024 entries are long
    rng = np.random.default_rng(5)
    dense = random_counts(rng, 1500, 40, density=0.05)
    dense[:, [3, 17]] = random_counts(rng, 2, 1500, density=0.9).T  # two long items
    dense[0, :] = 1.0
    ratings = to_ratings(dense, "float32")
    model = sa.ImplicitALS(factors=4, iterations=3, random_state=0)
    plans = []
    model.callback = lambda iteration, loss: plans.append(model._long_rows)
    estimates = []
    real_check = _memory.check_fit_memory
    monkeypatch.setattr(_memory, "check_fit_memory",
                        lambda *a, **kw: estimates.append(kw["listed"]) or real_check(*a, **kw))
    model.fit(ratings)
    assert all(plan is plans[0] for plan in plans)  # planned by the first iteration only
    users, items = plans[0]
    assert users is None and items.rows.tolist() == [3, 17]
    assert estimates == [len(items.slots)] == [int((~np.isnan(dense[:, [3, 17]])).sum())]
    assert not hasattr(model, "_long_rows")  # dropped with the fit
    assert model._listed_ratings(ratings, np.float32) == len(items.slots)
    assert sa.ImplicitALS(solver="cholesky")._listed_ratings(ratings, np.float32) == 0


def test_long_rows_refuse_a_transposed_matrix_of_other_entries(monkeypatch):
    import sparseals._kernels.implicit as kernel
    from sparseals.solvers import _implicit_step, _plan_long_rows

    monkeypatch.setattr(kernel, "GATHER_BYTES", 0)  # rows of more than 1024 entries are long
    rng = np.random.default_rng(4)
    dense = random_counts(rng, 3, 2600, density=0.6)
    ratings = to_ratings(dense)
    for density in (0.3, 0.8):  # fewer entries, then more
        wrong = to_ratings(random_counts(rng, 3, 2600, density=density))
        with pytest.raises(ValueError, match="does not hold the rows' entries"):
            _plan_long_rows(ratings.by_user, wrong.by_item, 4, np.float64)
    # a plan made for other rows, or for another gather size, is refused by the half-step
    other = 0.1 * rng.standard_normal((2600, 4))
    wrong = to_ratings(random_counts(rng, 3, 2600, density=0.5))
    plans = [_plan_long_rows(wrong.by_user, wrong.by_item, 4, np.float64)]
    monkeypatch.setattr(kernel, "GATHER_BYTES", 1200 * 4 * 8)  # 1200 rows of K = 4 float64
    plans.append(_plan_long_rows(ratings.by_user, ratings.by_item, 4, np.float64))
    monkeypatch.setattr(kernel, "GATHER_BYTES", 0)
    for plan, other_side in ((plans[0], other), (plans[1], other),
                             (_plan_long_rows(ratings.by_user, ratings.by_item, 4, np.float64),
                              other[:2000])):  # the passes would read past the other side
        with pytest.raises(ValueError, match="planned for other rows"):
            _implicit_step(ratings.by_user, other_side, np.zeros((3, 4)), 0.3, 0.0, 2.0, 1.0,
                           "linear", True, 3, 1, long_rows=plan)


def test_cg_with_k_steps_matches_cholesky():
    rng = np.random.default_rng(2)
    dense = random_counts(rng, 60, 50, empty_rows=[0])
    other = rng.standard_normal((50, 6))
    initial = rng.standard_normal((60, 6))
    exact, _ = implicit_half_step(to_csr(dense), other, regularization=0.5, alpha=1.5,
                                  solver="cholesky")
    cg, _ = implicit_half_step(to_csr(dense), other, regularization=0.5, alpha=1.5, solver="cg",
                               cg_steps=6, initial=initial)
    np.testing.assert_allclose(cg, exact, atol=1e-6, rtol=0)
    assert not cg[0].any()


def test_cg_never_increases_the_row_objective():
    rng = np.random.default_rng(3)
    dense = random_counts(rng, 30, 40)
    other = rng.standard_normal((40, 8))
    users = rng.standard_normal((30, 8))
    before = naive.implicit_loss(dense, users, other, 0.1, 0.0)
    cg, _ = implicit_half_step(to_csr(dense), other, regularization=0.1, solver="cg",
                               cg_steps=2, initial=users)
    assert naive.implicit_loss(dense, cg, other, 0.1, 0.0) < before


def test_gradient_is_zero_after_a_cholesky_half_step():
    rng = np.random.default_rng(4)
    dense = random_counts(rng, 25, 35, empty_rows=[5])
    items = rng.standard_normal((35, 4))
    users, _ = implicit_half_step(to_csr(dense), items, regularization=0.2, alpha=3.0,
                                  unobserved_weight=0.5, reg_exponent=0.3, solver="cholesky")
    grad = naive.implicit_user_gradient(dense, users, items, 0.2, 3.0, 0.5, 0.3)
    assert np.abs(grad).max() < 1e-9
    # the item step is the same kernel on the transpose
    items2, _ = implicit_half_step(to_csr(dense).T.tocsr(), users, regularization=0.2,
                                   alpha=3.0, unobserved_weight=0.5, reg_exponent=0.3)
    grad = naive.implicit_user_gradient(dense.T, items2, users, 0.2, 3.0, 0.5, 0.3)
    assert np.abs(grad).max() < 1e-9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("unobserved_weight", [1.0, 0.0])
def test_exact_solve_of_short_rows_with_large_confidences(dtype, unobserved_weight):
    """Rows with fewer entries than K take the n × n dual solve. Its Woodbury form
    subtracted two terms of size c: at c = 1e5 a float32 row's objective was 7 % above
    the optimum, 19× at 1e6 (a probing helper's case); the fit's loss then rose."""
    rng = np.random.default_rng(0)
    k, n_items = 8, 20
    other = (rng.standard_normal((n_items, k)) / np.sqrt(k)).astype(dtype)
    for value in (1e2, 1e5, 1e6):
        # two large entries, and with confidence='raw' one of confidence α₀ (zero weight)
        rows = sp.csr_matrix(([value, value / 2, 1.0], ([0, 0, 0], [3, 11, 5])),
                             shape=(1, n_items))
        for confidence in ("linear", "raw"):
            got, _ = implicit_half_step(rows, other, regularization=0.1, solver="cholesky",
                                        unobserved_weight=unobserved_weight,
                                        confidence=confidence)
            c = np.full(n_items, unobserved_weight)
            stored = rows.toarray()[0]
            seen = stored != 0
            c[seen] = (1 + stored[seen]) if confidence == "linear" else stored[seen]
            p = seen.astype(float)
            y = other.astype(np.float64)
            exact = np.linalg.solve(y.T @ (c[:, None] * y) + 0.1 * np.eye(k), y.T @ (c * p))
            objective = lambda x: (c * (p - y @ x) ** 2).sum() + 0.1 * x @ x
            excess = objective(got[0].astype(np.float64)) / objective(exact) - 1
            assert excess < (1e-4 if dtype == np.float32 else 1e-9), (value, confidence, excess)


def test_half_step_is_the_same_on_one_and_two_threads():
    rng = np.random.default_rng(5)
    csr = to_csr(random_counts(rng, 200, 80))
    other = rng.standard_normal((80, 7)).astype(np.float32)
    for solver in ("cholesky", "cg"):
        one, _ = implicit_half_step(csr, other, regularization=0.1, solver=solver, num_threads=1)
        two, _ = implicit_half_step(csr, other, regularization=0.1, solver=solver, num_threads=2)
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("kwargs, message", [
    (dict(confidence="log"), r"confidence must be one of \['linear', 'raw'\]; got 'log'"),
    (dict(solver="lu"), r"solver must be one of \['cg', 'cholesky'\]; got 'lu'"),
    (dict(cg_steps=0), "cg_steps must be a positive integer; got 0"),
    (dict(cg_steps=2**63), "cg_steps must be at most 2,147,483,647"),  # a numba error
    # only the lower triangle was read, and negative eigenvalues were clipped: no word
    (dict(other_gram=np.triu(np.full((3, 3), 5.0)), n_other=5), r"other_gram is not symmetric"),
    (dict(other_gram=-np.eye(3), n_other=5), r"other_gram has a negative eigenvalue \(-1\)"),
    (dict(other_gram=5 * np.eye(3)), r"other_gram and n_other describe the whole other side "
                                     r"together"),
    (dict(n_other=8), r"give both \(a block of it\) or neither"),
    (dict(other_gram=5 * np.eye(3), n_other=10**30), r"n_other must be at most"),  # OverflowError
    (dict(reg_exponent=500), r"regularization=0.1 weighted by reg_exponent=500 is too large "
                             r"for float64 arithmetic: the longest row's penalty "
                             r"regularization × 6\^500"),  # 1 rating + α₀ · 5 columns
    (dict(alpha=-1.0), "alpha must be a non-negative finite number; got -1.0"),
    (dict(unobserved_weight=np.inf), "unobserved_weight must be a non-negative finite"),
    (dict(initial=np.zeros((3, 2))), r"initial has shape \(3, 2\); expected \(4, 3\)"),
])
def test_half_step_validates_its_arguments(kwargs, message):
    rows = sp.csr_matrix(np.eye(4, 5))
    with pytest.raises(ValueError, match=message):
        implicit_half_step(rows, np.ones((5, 3)), regularization=0.1, **kwargs)


def test_half_step_needs_at_least_one_factor():
    # K = 0 was a ZeroDivisionError (explicit: a numba SystemError)
    with pytest.raises(ValueError, match=r"with K ≥ 1; got shape \(5, 0\)"):
        implicit_half_step(sp.csr_matrix(np.eye(4, 5)), np.ones((5, 0)), regularization=0.1)


def test_linear_confidence_rejects_negative_values():
    rows = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, -2.0]]))
    with pytest.raises(ValueError, match=r"negative values .*-2\.0.*confidence='raw'"):
        implicit_half_step(rows, np.ones((2, 3)), regularization=0.1)
    # raw confidence: a negative value is a dislike with confidence |r|
    implicit_half_step(rows, np.ones((2, 3)), regularization=0.1, confidence="raw")


# ---------------------------------------------------------------- the model
def test_defaults_follow_the_design():
    assert sa.ImplicitALS().get_params() == dict(
        factors=64, regularization=0.01, reg_users=None, reg_items=None, alpha=1.0,
        unobserved_weight=1.0, reg_exponent=0.0, confidence="linear", solver="cg", cg_steps=3,
        iterations=15, dtype="float32", random_state=None, num_threads=None,
        show_progress=False, callback=None, warm_start=False)
    assert "ImplicitALS" in sa.__all__


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_loss_is_the_full_loss_and_never_increases(solver):
    rng = np.random.default_rng(6)
    dense = random_counts(rng, 70, 50, density=0.15, empty_rows=[2])
    seen = []
    model = sa.ImplicitALS(factors=6, regularization=0.3, reg_items=0.7, alpha=2.0,
                           unobserved_weight=0.8, reg_exponent=0.2, solver=solver, iterations=8,
                           dtype="float64", random_state=0,
                           callback=lambda it, loss: seen.append((it, loss)))
    model.fit(to_ratings(dense))
    losses = np.array(model.loss_history_)
    assert [it for it, _ in seen] == list(range(8))
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    assert losses[-1] < losses[0]
    want = naive.implicit_loss(dense, model.user_factors_, model.item_factors_, 0.3, 0.7, 2.0,
                               0.8, 0.2)
    assert losses[-1] == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loss_from_the_item_step_equals_the_loss_computed_afresh(solver, dtype, monkeypatch):
    # the item half-step sums the observed cells' loss from its gathered rows (or, for
    # items longer than a gather block, from the factor table): both paths, vs a fresh pass
    import sparseals._kernels.implicit as kernel

    monkeypatch.setattr(kernel, "GATHER_BYTES", 0)  # blocks of the minimum, 1024 rows
    rng = np.random.default_rng(8)
    dense = random_counts(rng, 1300, 40, density=0.1)
    dense[:, 5] = rng.integers(0, 4, 1300)  # an item longer than a gather block
    ratings = to_ratings(dense, dtype)
    iterations = []
    model = sa.ImplicitALS(factors=5, regularization=0.2, alpha=3.0, unobserved_weight=0.5,
                           solver=solver, iterations=3, dtype=dtype, random_state=0,
                           callback=lambda it, loss: iterations.append(
                               (loss, model._loss(ratings))))
    model.fit(ratings)
    for fused, afresh in iterations:
        assert fused == pytest.approx(afresh, rel=TOL[np.dtype(dtype).type])
    want = naive.implicit_loss(dense, model.user_factors_, model.item_factors_, 0.2, 0.2, 3.0,
                               0.5)
    assert model.loss_history_[-1] == pytest.approx(want, rel=TOL[np.dtype(dtype).type])


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_float32_loss_matches_the_float64_reference_of_its_factors(solver):
    # each cell's dot product is summed in float32: the history must still be the loss
    # of the float32 factors to float32 accuracy, at a K wide enough to vectorise
    rng = np.random.default_rng(9)
    dense = random_counts(rng, 300, 200, density=0.2)
    model = sa.ImplicitALS(factors=48, regularization=0.5, alpha=2.0, solver=solver,
                           iterations=3, dtype="float32", random_state=0)
    model.fit(to_ratings(dense, "float32"))
    want = naive.implicit_loss(dense, model.user_factors_.astype(float),
                               model.item_factors_.astype(float), 0.5, 0.5, 2.0, 1.0)
    assert model.loss_history_[-1] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_a_constant_matrix_without_regularization_is_fitted_exactly(dtype, solver):
    """Regression (found by test_fuzz): every user alike makes the item systems rank one
    with λ = 0; the Cholesky took rounding for pivots, the factors reached 1e19 and the
    next iteration's eigendecomposition of G failed."""
    ratings = np.full((6, 5), 252, dtype=np.uint8)
    model = sa.ImplicitALS(factors=5, regularization=0.0, alpha=50.0, solver=solver,
                           iterations=4, dtype=dtype, random_state=0).fit(ratings)
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
    np.testing.assert_allclose(model.predict(np.repeat(np.arange(6), 5), np.tile(np.arange(5), 6)),
                               1.0, atol=1e-3)
    assert min(model.loss_history_) >= 0.0


def test_three_cg_steps_decrease_the_loss_on_random_data():
    rng = np.random.default_rng(7)
    X = sp.random(300, 200, density=0.05, format="csr", random_state=rng,
                  data_rvs=lambda n: rng.integers(1, 20, n))
    model = sa.ImplicitALS(factors=16, solver="cg", cg_steps=3, iterations=10, random_state=1,
                           dtype="float64").fit(X)
    assert np.all(np.diff(model.loss_history_) < 0)


def test_float32_fit_follows_float64():
    rng = np.random.default_rng(8)
    dense = random_counts(rng, 60, 40)
    fits = [sa.ImplicitALS(factors=4, regularization=0.5, solver="cholesky", iterations=3,
                           dtype=dtype, random_state=0).fit(to_ratings(dense, dtype))
            for dtype in ("float32", "float64")]
    np.testing.assert_allclose(fits[0].user_factors_, fits[1].user_factors_, atol=1e-4)
    assert fits[0].loss_history_[-1] == pytest.approx(fits[1].loss_history_[-1], rel=1e-5)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_fit_is_the_same_on_one_and_two_threads(solver):
    X = synthetic(400, 150, 6000, implicit=True, seed=3)
    a = sa.ImplicitALS(factors=8, solver=solver, iterations=3, random_state=2,
                       num_threads=1).fit(X)
    b = sa.ImplicitALS(factors=8, solver=solver, iterations=3, random_state=2,
                       num_threads=2).fit(X)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


_CG_FIT = """
import sys
import numpy as np
import scipy.sparse as sp
import sparseals as sa
import sparseals._kernels.implicit as kernel

kernel.GATHER_BYTES = 0  # items of more than 1024 ratings take the long-row CG
plays = sp.random(3000, 40, density=0.4, format="csr", random_state=0, dtype=np.float64)
plays.data = np.ceil(plays.data * 5)
model = sa.ImplicitALS(factors=10, iterations=2, random_state=0).fit(plays)
np.savez(sys.argv[1], users=model.user_factors_, items=model.item_factors_,
         loss=model.loss_history_)
"""


def test_cg_fit_is_the_same_whether_the_process_compiled_its_kernels_or_loaded_them(tmp_path):
    """With reassociation allowed in their parallel loops' bodies, the CG kernels rounded
    differently in the process that compiled them than in one that loaded them from
    numba's cache (float32, K = 10: factors 1.2e-5 apart after three iterations)."""
    import os
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items()
           if name != "SPARSEALS_NO_JIT_CACHE"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")  # empty: the first run compiles
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(sa.__file__)), env.get("PYTHONPATH", "")])
    runs = []
    for name in ("compiled", "cached"):
        subprocess.run([sys.executable, "-c", _CG_FIT, str(tmp_path / f"{name}.npz")],
                       env=env, check=True, timeout=300)
        runs.append(np.load(tmp_path / f"{name}.npz"))
    assert any((tmp_path / "cache").rglob("*.nbc"))  # the second run had a cache to load
    for key in ("users", "items", "loss"):
        np.testing.assert_array_equal(runs[0][key], runs[1][key], err_msg=key)


@pytest.mark.parametrize("params, message", [
    (dict(confidence="exp"), "confidence must be one of"),
    (dict(confidence=["raw"]), r"confidence must be one of \['linear', 'raw'\]; got \['raw'\]"),
    (dict(solver="qr"), "solver must be one of"),
    (dict(cg_steps=1.5), "cg_steps must be a positive integer; got 1.5"),
    (dict(cg_steps=10**30), "cg_steps must be at most 2,147,483,647"),  # a numba TypingError
    (dict(reg_exponent=60), r"regularization=0.01 weighted by reg_exponent=60 is too large for "
                            r"float32 arithmetic"),
    (dict(alpha="1"), "alpha must be a non-negative number; got '1'"),
    (dict(unobserved_weight=-0.1), "unobserved_weight must be a non-negative finite"),
    (dict(factors=0), "factors must be a positive integer"),
    (dict(show_progress=1), "show_progress must be True or False"),
])
def test_model_validates_parameters_in_fit(params, message):
    model = sa.ImplicitALS(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=message):
        model.fit(sp.csr_matrix(np.eye(3)))


def test_model_rejects_negative_counts_with_linear_confidence():
    X = sp.csr_matrix(np.array([[1.0, -1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="X holds negative values"):
        sa.ImplicitALS(factors=2).fit(X)
    sa.ImplicitALS(factors=2, confidence="raw", iterations=2).fit(X)


@pytest.mark.parametrize("params, message", [
    (dict(alpha=1e30), r"the confidences reach 2e\+30 \(alpha=1e\+30\), too large for float32"),
    (dict(alpha=1e300, dtype="float64"), r"confidences reach 2e\+300 .* too large for float64"),
    (dict(confidence="raw", alpha=1e20), r"the confidences reach 2e\+20"),
    (dict(unobserved_weight=1e20), r"unobserved_weight=1e\+20 is too large for float32"),
])
def test_weights_that_would_overflow_are_named(params, message):
    # alpha=1e300 gave an overflow warning and a loss of inf, not an error
    X = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=message):
        sa.ImplicitALS(factors=2, **params).fit(X)
    dtype = np.float64 if params.get("dtype") == "float64" else np.float32
    with pytest.raises(ValueError, match=message):
        implicit_half_step(X, np.ones((2, 2), dtype=dtype), regularization=0.1,
                           **{k: p for k, p in params.items() if k != "dtype"})
    model = sa.ImplicitALS(factors=2, iterations=1, **params, random_state=0)
    model.set_params(alpha=1.0, unobserved_weight=1.0).fit(X)
    model.set_params(**{k: p for k, p in params.items() if k != "confidence"})
    with pytest.raises(ValueError, match=message):
        model.fold_in([0, 1], [2.0, 1.0])


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_fixed_factors_whose_squares_overflow_are_named(solver):
    # their Gram matrix was inf: numpy's eigh raised a bare LinAlgError
    X = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"other_factors reach 1e\+20, too large for float32"):
        implicit_half_step(X, np.full((2, 2), 1e20, dtype=np.float32), regularization=0.1,
                           solver=solver)
    factors, _ = implicit_half_step(X, np.full((2, 2), 1e20), regularization=0.1, solver=solver)
    assert np.isfinite(factors).all()


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_a_fits_half_step_rotates_the_other_side_in_place(solver):
    """A fit's half-step rotated a copy of the other side (for the item step, one more
    copy of the user factors: fit peaks of 2.05 × (CSR + CSC + factors) at K = 128 on a
    quarter of the ml20m shape, 1.66 now)."""
    import tracemalloc

    from sparseals.solvers import _implicit_step

    rng = np.random.default_rng(3)
    rows = sp.random(50, 100_000, density=2e-4, format="csr", random_state=3) * 5
    other = rng.standard_normal((100_000, 16))
    before = other.copy()
    expected = np.zeros((50, 16))
    _implicit_step(rows, before.copy(), expected, 0.1, 0.0, 1.0, 1.0, "linear", solver == "cg",
                   3, None)
    got = np.zeros((50, 16))
    tracemalloc.start()
    _implicit_step(rows, other, got, 0.1, 0.0, 1.0, 1.0, "linear", solver == "cg", 3, None,
                   rotate_other_in_place=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < other.nbytes / 4
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(other, before, rtol=1e-12, atol=1e-14)  # rotated back


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_fold_in_allocates_scratch_for_its_own_rows_only(solver):
    """Each call allocated a 4 MiB gather block per numba thread (262 MiB with 32)."""
    import tracemalloc

    X = synthetic(200, 150, 3000, implicit=True, seed=1)
    model = sa.ImplicitALS(factors=64, iterations=1, solver=solver, random_state=0).fit(X)
    model.fold_in([1, 2, 3], [5.0, 4.0, 3.0])
    tracemalloc.start()
    model.fold_in([1, 2, 3], [5.0, 4.0, 3.0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


def test_fold_in_equals_the_full_half_step_row():
    rng = np.random.default_rng(9)
    dense = random_counts(rng, 50, 40)
    for solver in ("cholesky", "cg"):
        model = sa.ImplicitALS(factors=5, regularization=0.2, alpha=3.0, unobserved_weight=0.6,
                               reg_exponent=0.4, solver=solver, iterations=3, dtype="float64",
                               random_state=0).fit(to_ratings(dense))
        want, _ = implicit_half_step(to_csr(dense), model.item_factors_, regularization=0.2,
                                     alpha=3.0, unobserved_weight=0.6, reg_exponent=0.4)
        items = np.flatnonzero(~np.isnan(dense[7]))[::-1]  # any order
        got = model.fold_in(items, dense[7, items])
        np.testing.assert_allclose(got, want[7], atol=1e-12)
        # a few items: the solve rotates only their factors, with the whole side's Gram
        few = items[:3]
        row = sp.csr_matrix((dense[7, few], (np.zeros(3, dtype=int), few)), shape=(1, 40))
        want_few, _ = implicit_half_step(row, model.item_factors_, regularization=0.2,
                                         alpha=3.0, unobserved_weight=0.6, reg_exponent=0.4)
        np.testing.assert_allclose(model.fold_in(few, dense[7, few]), want_few[0], atol=1e-12)
    with pytest.raises(ValueError, match="negative values"):
        model.fold_in([0, 1], [1.0, -1.0])
    with pytest.raises(ValueError, match="repeated item indices"):
        model.fold_in([0, 0], [1.0, 1.0])


# ---------------------------------------------------------------- top-n
@pytest.mark.parametrize("prune", [False, True])
def test_recommend_matches_brute_force_with_ties_and_never_returns_seen(prune, monkeypatch):
    import sparseals._base as base

    # with prune, candidates are scored by decreasing norm and blocks stop early
    monkeypatch.setattr(base, "_PRUNE_MIN_QUERIES", 1 if prune else 10 ** 9)
    rng = np.random.default_rng(10)
    dense = random_counts(rng, 40, 60, density=0.1)
    model = sa.ImplicitALS(factors=3, iterations=1, random_state=0).fit(to_ratings(dense))
    # small integer factors: many exactly tied scores
    model.user_factors_ = rng.integers(-2, 3, (40, 3)).astype(np.float32)
    model.item_factors_ = rng.integers(-2, 3, (60, 3)).astype(np.float32)
    scores = model.user_factors_ @ model.item_factors_.T
    users = np.arange(40)
    items, got_scores = model.recommend(users, n=12)
    candidates = np.arange(0, 60, 2)
    sub_items, _ = model.recommend(users, n=7, items=candidates[::-1])
    unseen_items, _ = model.recommend(users, n=12, exclude_seen=False)
    for u in users:
        seen = np.flatnonzero(~np.isnan(dense[u]))
        np.testing.assert_array_equal(items[u], naive.top_n(scores[u], 12, seen))
        np.testing.assert_array_equal(got_scores[u], scores[u, items[u]])
        assert not np.isin(items[u], seen).any()
        np.testing.assert_array_equal(unseen_items[u], naive.top_n(scores[u], 12))
        masked = np.full(60, -np.inf)
        masked[candidates] = scores[u, candidates]
        excluded = np.union1d(seen, np.setdiff1d(np.arange(60), candidates))
        np.testing.assert_array_equal(sub_items[u], naive.top_n(masked, 7, excluded))
    one, _ = model.recommend(5, n=4)
    np.testing.assert_array_equal(one, items[5, :4])


@pytest.mark.parametrize("prune", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_recommend_for_many_users_spans_score_blocks(monkeypatch, dtype, prune):
    import sparseals._base as base
    import sparseals._kernels.topk as topk

    # blocks of 16 users × 64 items: rows, heaps and exclusions cross block borders
    monkeypatch.setattr(base, "_TOP_N_BLOCK", (16, 64))
    monkeypatch.setattr(base, "_PRUNE_MIN_QUERIES", 1 if prune else 10 ** 9)
    X = synthetic(300, 200, 6000, implicit=True, seed=4, dtype=dtype)
    model = sa.ImplicitALS(factors=4, iterations=2, random_state=0, dtype=dtype).fit(X)
    # item norms spread as popularity spreads them: a head whose later blocks still hold
    # some users' best items, then a tail that pruning can skip
    rng = np.random.default_rng(5)
    model.item_factors_ = rng.standard_normal((200, 4)).astype(dtype)
    model.item_factors_ /= np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    model.item_factors_ *= np.append(np.geomspace(1.0, 0.5, 120), np.full(80, 1e-3))[
        rng.permutation(200), None].astype(dtype)
    scored = []
    real_kernel = topk.score_top_n

    def counting(*args):
        real_kernel(*args)
        scored.append(args[-2])  # column_bounds: empty when not pruning

    monkeypatch.setattr(topk, "score_top_n", counting)
    items, scores = model.recommend(np.arange(300), n=5)
    sub, _ = model.recommend(np.arange(300), n=5, items=np.arange(50, 190, 3))
    all_scores = model.user_factors_ @ model.item_factors_.T
    dense = X.to_dense()
    outside = np.setdiff1d(np.arange(200), np.arange(50, 190, 3))
    for u in range(300):
        seen = np.flatnonzero(~np.isnan(dense[u]))
        np.testing.assert_array_equal(items[u], naive.top_n(all_scores[u], 5, seen))
        np.testing.assert_allclose(scores[u], all_scores[u, items[u]], rtol=1e-5)
        np.testing.assert_array_equal(sub[u], naive.top_n(all_scores[u], 5,
                                                          np.union1d(seen, outside)))
    assert all(len(bounds) > 0 for bounds in scored) == prune


# ---------------------------------------------------------------- incremental updates
@pytest.mark.parametrize("model_class", [sa.ImplicitALS, sa.ExplicitALS])
def test_partial_fit_recomputes_rows_like_a_half_step(model_class):
    rng = np.random.default_rng(11)
    dense = random_counts(rng, 50, 40, zeros=False)
    extra = {"solver": "cholesky"} if model_class is sa.ImplicitALS else {}
    model = model_class(factors=4, regularization=0.3, iterations=3, dtype="float64",
                        random_state=0, **extra).fit(to_ratings(dense))
    users_before = model.user_factors_.copy()
    items_before = model.item_factors_.copy()
    # the last half-step was the item step: redoing items from the same columns is a no-op
    ids = np.array([3, 0, 22])
    model.partial_fit_items(ids, to_csr(dense)[:, ids])
    np.testing.assert_allclose(model.item_factors_, items_before, atol=1e-12)
    items_before = model.item_factors_.copy()
    # new activity of user 9 and a new user 50 (a row past the end)
    rows = np.full((2, 40), np.nan)
    rows[0, [1, 2, 3]] = [5.0, 1.0, 2.0]
    rows[1, [4, 6]] = [3.0, 4.0]
    model.partial_fit_users([9, 50], to_csr(rows))
    assert model.user_factors_.shape == (51, 4)
    assert len(model.user_ids_) == 51 and model.user_ids_[50] == 50
    np.testing.assert_array_equal(model.item_factors_, items_before)
    keep = np.setdiff1d(np.arange(50), [9])
    np.testing.assert_array_equal(model.user_factors_[keep], users_before[keep])
    expect = model.fold_in([1, 2, 3], [5.0, 1.0, 2.0])
    np.testing.assert_allclose(model.user_factors_[9], expect, atol=1e-12)
    np.testing.assert_allclose(model.user_factors_[50], model.fold_in([4, 6], [3.0, 4.0]),
                               atol=1e-12)
    recommended, _ = model.recommend([9, 50], n=40)  # every candidate, padded with -1
    # the new history replaces the old one in what recommend excludes
    assert set(recommended[0][recommended[0] >= 0]) == set(range(40)) - {1, 2, 3}
    assert set(recommended[1][recommended[1] >= 0]) == set(range(40)) - {4, 6}


@pytest.mark.parametrize("model_class", [sa.ImplicitALS, sa.ExplicitALS])
@pytest.mark.parametrize("missing", [np.full((2, 30), np.nan), np.ma.masked_all((2, 30)),
                                     np.ma.masked_array(np.full((2, 30), np.nan),
                                                        mask=np.eye(2, 30, dtype=bool))])
def test_partial_fit_of_rows_without_interactions_gives_zero_factors(model_class, missing):
    """All-NaN rows gave users without interactions; all-masked ones (the mask marks
    missing cells, as in Ratings.from_dense) raised 'no observed cells (all NaN)'."""
    X = synthetic(40, 30, 300, implicit=True, seed=5)
    model = model_class(factors=3, iterations=1, random_state=0).fit(X)
    model.partial_fit_users([3, 40], missing)
    assert not model.user_factors_[[3, 40]].any()
    assert model.recommend(3, n=30)[0].tolist() == model.recommend(
        3, n=30, exclude_seen=False)[0].tolist()


def test_partial_fit_items_adds_items_and_updates_seen():
    X = synthetic(80, 30, 600, implicit=True, seed=5)
    model = sa.ImplicitALS(factors=3, iterations=2, random_state=0).fit(X)
    cols = sp.csr_matrix(([2.0, 7.0], ([0, 5], [0, 1])), shape=(80, 2))
    model.partial_fit_items([29, 31], cols)  # recompute item 29, add item 31
    assert model.item_factors_.shape == (32, 3)
    assert not model.item_factors_[30].any()  # skipped over: no interactions, zero factors
    assert 29 not in model.recommend(0, n=31)[0]  # user 0 now has item 29
    assert 31 not in model.recommend(5, n=31)[0]  # user 5 now has item 31
    assert 31 in model.recommend(0, n=32, exclude_seen=False)[0]
    with pytest.raises(ValueError, match=r"items contains id 40 .*new items continue the "
                                         r"index from 32, at most one new index per given"):
        model.partial_fit_items([40], sp.csr_matrix((80, 1)))


@pytest.mark.parametrize("model_class", [sa.ImplicitALS, sa.ExplicitALS])
def test_partial_fits_keep_the_seen_structure_of_every_row(model_class, tmp_path):
    """A random sequence of partial fits on both sides, new and existing ids in any
    order, rows emptied and filled: recommend excludes exactly the pairs of a plain
    boolean matrix kept alongside, before and after a save / load."""
    rng = np.random.default_rng(3)
    seen = rng.random((40, 25)) < 0.2
    seen[7] = False  # a user with no training items
    rows, cols = np.nonzero(seen)
    X = sa.Ratings.from_coo(rows, cols, rng.integers(1, 6, len(rows)).astype(float),
                            shape=seen.shape)
    model = model_class(factors=3, iterations=1, random_state=0).fit(X)
    for step in range(12):
        users_side = step % 2 == 0
        size = seen.shape[0] if users_side else seen.shape[1]
        ids = rng.permutation(size + 2)[:rng.integers(1, 5)]  # at most one new index...
        ids = ids[ids <= size]  # ...and only the next one
        if ids.size == 0:
            continue
        pattern = rng.random((len(ids), seen.shape[1] if users_side else seen.shape[0])) < 0.3
        pattern[0] = step % 3 == 0  # now and then an emptied row, or a full one
        values = np.where(pattern, rng.integers(1, 6, pattern.shape), 0.0)
        grown = np.zeros((max(seen.shape[0], ids.max() + 1) if users_side else seen.shape[0],
                          seen.shape[1] if users_side else max(seen.shape[1], ids.max() + 1)),
                         dtype=bool)
        grown[:seen.shape[0], :seen.shape[1]] = seen
        seen = grown
        if users_side:
            seen[ids] = pattern
            model.partial_fit_users(ids, sp.csr_matrix(values))
        else:
            seen[:, ids] = pattern.T
            model.partial_fit_items(ids, sp.csr_matrix(values.T))
    assert model.user_factors_.shape[0] == seen.shape[0]
    assert model.item_factors_.shape[0] == seen.shape[1]
    model.save(tmp_path / "model.npz")
    for fitted in (model, sa.load(tmp_path / "model.npz")):
        top, _ = fitted.recommend(np.arange(seen.shape[0]), n=seen.shape[1])
        for u in range(seen.shape[0]):
            assert set(top[u][top[u] >= 0]) == set(np.flatnonzero(~seen[u])), u


@pytest.mark.parametrize("side", ["user", "item"])
@pytest.mark.parametrize("read_only", ["factors flag", "biases flag", "factors mmap"])
def test_partial_fit_of_read_only_arrays_updates_copies(tmp_path, side, read_only):
    """Refitting rows of read-only arrays (np.load with mmap_mode, setflags) failed with
    numpy's bare 'assignment destination is read-only'; with read-only biases only, the
    factors were written first: the model was left half updated."""
    X = synthetic(40, 30, 300, seed=5)
    model = sa.ExplicitALS(factors=3, iterations=2, biases=True, random_state=0).fit(X)
    writable = copy.deepcopy(model)
    name = f"{side}_{read_only.split()[0]}_"
    if read_only.endswith("mmap"):
        np.save(tmp_path / "array.npy", getattr(model, name))
        setattr(model, name, np.load(tmp_path / "array.npy", mmap_mode="r"))
    else:
        getattr(model, name).setflags(write=False)
    untouched = getattr(model, name)
    before = np.array(untouched)
    ids, others = [2, 5], [7, 9]  # other rows' interactions: the rows do change
    for fitted in (model, writable):
        if side == "user":
            fitted.partial_fit_users(ids, X.csr[others])
        else:
            fitted.partial_fit_items(ids, X.csc[:, others])
    for array in ("factors_", "biases_"):
        np.testing.assert_array_equal(getattr(model, f"{side}_{array}"),
                                      getattr(writable, f"{side}_{array}"))
    assert not np.array_equal(getattr(model, name), before)
    np.testing.assert_array_equal(untouched, before)
    np.testing.assert_array_equal(model._seen.indices, writable._seen.indices)


def test_users_added_by_partial_fit_get_new_ids(tmp_path):
    """An added row's id was its index: with ids 0, 3, 7 the new user 3 collided with
    user 3, and text ids turned into an unsaveable mix of text and numbers."""
    pd = pytest.importorskip("pandas")
    one = sp.csr_matrix(([4.0], ([0], [1])), shape=(1, 2))
    two = sp.vstack([one, one])
    frame = pd.DataFrame({"user": [0, 3, 7], "item": [1, 2, 1], "r": [5.0, 3.0, 4.0]})
    model = sa.ExplicitALS(factors=1, iterations=1, random_state=0).fit(
        sa.Ratings.from_dataframe(frame, user="user", item="item", rating="r"))
    model.partial_fit_users(3, one)
    assert model.user_ids_.tolist() == [0, 3, 7, 8]
    model.partial_fit_users([5, 4], two, ids=[20, 10])
    assert model.user_ids_.tolist() == [0, 3, 7, 8, 20, 10]
    model.partial_fit_items(2, sp.csr_matrix(np.ones((6, 1))))
    assert model.item_ids_.tolist() == [1, 2, 3]

    text = frame.assign(user=["ann", "bob", "cid"])
    model = sa.ExplicitALS(factors=1, iterations=1, random_state=0).fit(
        sa.Ratings.from_dataframe(text, user="user", item="item", rating="r"))
    with pytest.raises(ValueError, match=r"adds 2 user\(s\), and the model's user ids are .* "
                                         r"give their ids with ids="):
        model.partial_fit_users([4, 0], two)  # user 3 skipped over: two new ids needed
    assert len(model.user_factors_) == 3  # nothing changed
    for ids, error, message in [(["dan"], ValueError, "ids has 1 entries; this call adds 2"),
                                (["dan", "ann"], ValueError, "already in user_ids_"),
                                (["dan", "dan"], ValueError, "repeated"),
                                ([1, 2], TypeError, "give ids of the same kind")]:
        with pytest.raises(error, match=message):
            model.partial_fit_users([4, 0], two, ids=ids)
    with pytest.raises(ValueError, match="ids has 1 entries; this call adds 0"):
        model.partial_fit_users(0, one, ids=["x"])
    for ids in (np.array([None, "x"], dtype=object), np.array([1, "x"], dtype=object)):
        with pytest.raises(TypeError, match="give ids of the same kind"):
            model.partial_fit_users([4, 0], two, ids=ids)
    with pytest.raises(ValueError, match=r"ids must be a list or 1-D array .* shape \(1, 2\)"):
        model.partial_fit_users([4, 0], two, ids=[["dan", "eve"]])
    model.partial_fit_users([4, 0], two, ids=["dan", "eve"])
    assert model.user_ids_.tolist() == ["ann", "bob", "cid", "dan", "eve"]
    # a scalar id for one added user (it said "ids has 1 entries; this call adds 1")
    model.partial_fit_users(5, one, ids="fay")
    assert model.user_ids_.tolist() == ["ann", "bob", "cid", "dan", "eve", "fay"]
    model.save(tmp_path / "m.npz")
    assert sa.load(tmp_path / "m.npz").user_ids_.tolist() == model.user_ids_.tolist()


@pytest.mark.parametrize("ids, given, expected", [
    (np.array([0, 255], np.uint8), None, [0, 255, 256]),  # wrapped to 0 in uint8
    (np.array([0, 127], np.int8), None, [0, 127, 128]),  # wrapped to -128
    (np.array([2**63, 2**63 + 1], np.uint64), None, [2**63, 2**63 + 1, 2**63 + 2]),
    (np.array([2**60, 2**60 + 1], np.uint64), [7], [2**60, 2**60 + 1, 7]),  # were float64
])
def test_added_integer_ids_keep_every_id_exact(ids, given, expected):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"u": ids, "i": [0, 1], "r": [4.0, 5.0]})
    model = sa.ExplicitALS(factors=2, iterations=1, random_state=0).fit(
        sa.Ratings.from_dataframe(frame, user="u", item="i", rating="r"))
    model.partial_fit_users(2, np.array([[3.0, np.nan]]), ids=given)
    assert model.user_ids_.dtype.kind in "iu" and model.user_ids_.tolist() == expected


def test_partial_fits_and_fold_in_check_values_as_fit_does(tmp_path):
    """ExplicitALS took 3e38 (finite in float32), stored NaN factors and saved a file
    load refused; fit says the values are too large for float32 arithmetic."""
    X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    model = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="too large for float32 arithmetic"):
        model.partial_fit_items(0, np.full((30, 1), 3e38))
    with pytest.raises(ValueError, match="too large for float32 arithmetic"):
        model.fold_in([1], [3e38])
    assert np.isfinite(model.item_factors_).all()
    with pytest.raises(ValueError, match="exclude_seen must be True or False; got 'False'"):
        model.recommend(0, exclude_seen="False")


def test_fold_in_names_a_bad_value_by_its_position_in_the_call():
    """The position was counted after sorting by item: -2.0, third in the call, was
    named as at position 1."""
    X = synthetic(40, 30, 300, implicit=True, seed=5)
    model = sa.ImplicitALS(factors=3, iterations=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"values holds negative values \(first at stored "
                                         r"position 2: -2.0\)"):
        model.fold_in([5, 1, 3], [1.0, 2.0, -2.0])


@pytest.mark.parametrize("model_class, change, message", [
    (sa.ExplicitALS, dict(regularization=-1.0), "regularization must be a non-negative"),
    (sa.ExplicitALS, dict(reg_users=float("nan")), "reg_users must be a non-negative"),
    (sa.ExplicitALS, dict(reg_exponent=-1.0), "reg_exponent must be a non-negative"),
    (sa.ExplicitALS, dict(nonnegative="yes"), "nonnegative must be True or False"),
    (sa.ImplicitALS, dict(regularization=float("nan")), "regularization must be a non-neg"),
    (sa.ImplicitALS, dict(alpha=-1.0), "alpha must be a non-negative"),
    (sa.ImplicitALS, dict(unobserved_weight=-1.0), "unobserved_weight must be a non-neg"),
    (sa.ImplicitALS, dict(confidence="Linear"), "confidence must be one of"),
])
def test_fold_in_and_partial_fits_check_parameters_set_after_the_fit(model_class, change,
                                                                       message):
    """They solve with the parameters as set_params left them, which reached the kernels
    unchecked: regularization=nan or alpha=-1 folded in zero factors, confidence='Linear'
    weighted as 'raw', a negative λ or ν and nonnegative='yes' were solved with."""
    X = synthetic(40, 30, 300, implicit=True, seed=5)
    model = model_class(factors=3, iterations=1, random_state=0).fit(X)
    users, items = model.user_factors_.copy(), model.item_factors_.copy()
    model.set_params(**change)
    for call in (lambda m: m.fold_in([1, 2], [3.0, 1.0]),
                 lambda m: m.partial_fit_users([0], sp.csr_matrix(np.ones((1, 30)))),
                 lambda m: m.partial_fit_items([30], sp.csr_matrix(np.ones((40, 1))))):
        with pytest.raises(ValueError, match=message):
            call(model)
    assert np.array_equal(model.user_factors_, users)
    assert np.array_equal(model.item_factors_, items)


@pytest.mark.parametrize("model_class", [sa.ImplicitALS, sa.ExplicitALS])
def test_a_fitted_model_does_not_keep_the_training_values_alive(model_class):
    import gc
    import weakref

    X = synthetic(80, 30, 600, implicit=True, seed=5)
    model = model_class(factors=3, iterations=1, random_state=0).fit(X)
    values = weakref.ref(X.by_user.data)
    del X
    gc.collect()
    assert values() is None  # only the seen structure (indptr, indices) is kept
    assert model.recommend(0, n=3)[0].shape == (3,)


@pytest.mark.parametrize("call, message", [
    (lambda m: m.partial_fit_users([1, 1], sp.csr_matrix((2, 30))), "repeated indices"),
    (lambda m: m.partial_fit_users([1], sp.csr_matrix((1, 29))),
     r"rows has shape \(1, 29\); expected \(1, 30\)"),
    (lambda m: m.partial_fit_items([1], sp.csr_matrix((80, 2))),
     r"cols has shape \(80, 2\); expected \(80, 1\)"),
    (lambda m: m.partial_fit_users([-1], sp.csr_matrix((1, 30))), "negative ids"),
    (lambda m: m.partial_fit_users([], sp.csr_matrix((0, 30))), "users is empty"),
    (lambda m: m.partial_fit_users([0], sp.csr_matrix(-np.ones((1, 30)))), "negative values"),
])
def test_partial_fit_validates(call, message):
    X = synthetic(80, 30, 600, implicit=True, seed=5)
    model = sa.ImplicitALS(factors=3, iterations=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match=message):
        call(model)


def test_partial_fit_needs_a_fitted_model():
    from sparseals._base import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        sa.ImplicitALS().partial_fit_users([0], sp.csr_matrix((1, 3)))


# ---------------------------------------------------------------- parity with `implicit`
def _leave_one_out(csr, rng):
    """Hold out one random stored entry of every user with ≥ 5; returns (train, users, items)."""
    csr = csr.tocsr()
    counts = np.diff(csr.indptr)
    users = np.flatnonzero(counts >= 5)
    picks = csr.indptr[users] + (rng.random(len(users)) * counts[users]).astype(int)
    held = csr.indices[picks].copy()
    train = csr.copy()
    train.data[picks] = 0
    train.eliminate_zeros()
    return train, users, held


def _hit_rate(user_factors, item_factors, train, users, held, n=10):
    scores = user_factors[users] @ item_factors.T
    rows = train[users]
    scores[np.repeat(np.arange(len(users)), np.diff(rows.indptr)), rows.indices] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    return float(np.mean((top == held[:, None]).any(axis=1)))


def test_parity_with_implicit():
    als = pytest.importorskip("implicit.cpu.als",
                              reason="parity test needs the optional `implicit` package")
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(12)
    X = synthetic(1500, 600, 40_000, implicit=True, seed=6, dtype="float64").csr
    train, users, held = _leave_one_out(sp.csr_matrix(X), rng)
    confidence = train.copy()
    confidence.data = 1.0 + 1.0 * confidence.data  # implicit takes c itself: pass 1 + α·r
    confidence = confidence.astype(np.float32)
    k = 16
    items0 = (rng.standard_normal((600, k)) / np.sqrt(k)).astype(np.float32)

    # one Cholesky iteration from the same item factors
    with threadpool_limits(1, "blas"):
        theirs = als.AlternatingLeastSquares(factors=k, regularization=0.1, alpha=1.0,
                                             use_cg=False, iterations=1, num_threads=1,
                                             random_state=0, dtype=np.float32)
        theirs.user_factors = np.zeros((1500, k), dtype=np.float32)
        theirs.item_factors = items0.copy()
        theirs.fit(confidence, show_progress=False)
    users1, _ = implicit_half_step(train.astype(np.float64), items0.astype(np.float64),
                                   regularization=0.1, solver="cholesky")
    items1, _ = implicit_half_step(train.T.tocsr().astype(np.float64), users1,
                                   regularization=0.1, solver="cholesky")
    np.testing.assert_allclose(theirs.user_factors, users1, atol=1e-4)
    np.testing.assert_allclose(theirs.item_factors, items1, atol=1e-4)

    # the same model fitted to convergence ranks held-out items alike
    ours = sa.ImplicitALS(factors=k, regularization=0.1, solver="cholesky", iterations=10,
                          random_state=0).fit(train)
    with threadpool_limits(1, "blas"):
        theirs = als.AlternatingLeastSquares(factors=k, regularization=0.1, use_cg=False,
                                             iterations=10, num_threads=1, random_state=0)
        theirs.user_factors = np.zeros((1500, k), dtype=np.float32)
        theirs.item_factors = ours_initial_items(ours, train)
        theirs.fit(confidence, show_progress=False)
    hr_ours = _hit_rate(ours.user_factors_, ours.item_factors_, train, users, held)
    hr_theirs = _hit_rate(theirs.user_factors, theirs.item_factors, train, users, held)
    print(f"HitRate@10: sparseals {hr_ours:.4f}, implicit {hr_theirs:.4f}")
    assert hr_ours > 0.05
    assert abs(hr_ours - hr_theirs) <= 0.02 * hr_theirs


def ours_initial_items(model, train):
    """The item factors ``model.fit(train)`` starts from (same random_state)."""
    fresh = sa.ImplicitALS(**model.get_params())
    fresh._initialise(sa.Ratings.from_sparse(train), np.random.default_rng(model.random_state),
                      np.dtype(model.dtype))
    return fresh.item_factors_.copy()
