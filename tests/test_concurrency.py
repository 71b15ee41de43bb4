"""Threads: scoring from several Python threads at once gives the serial answers; num_threads
is resolved, honoured inside the kernels (BLAS on one thread) and restored; BLAS advice."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

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


def test_num_threads_is_resolved_as_documented():
    import numba

    from sparseals._threads import resolve_num_threads

    limit = numba.config.NUMBA_NUM_THREADS
    assert [resolve_num_threads(n) for n in (None, 0, -1, 10**6)] == [limit] * 4
    assert resolve_num_threads(-2) == max(1, limit - 1)
    assert resolve_num_threads(-10**6) == 1
    assert resolve_num_threads(np.int64(1)) == 1
    for bad in (True, 1.5, np.float64(1.0), "2"):
        with pytest.raises(ValueError, match=r"num_threads must be an integer or None; got "):
            resolve_num_threads(bad)


def test_kernels_run_on_num_threads_with_one_blas_thread_and_both_are_restored(monkeypatch):
    import numba
    from threadpoolctl import threadpool_info

    from sparseals._kernels import explicit, implicit, topk

    def blas_threads():
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    seen = []

    def watched(kernel):
        def call(*args):
            seen.append((kernel.__name__, numba.get_num_threads(), blas_threads()))
            return kernel(*args)
        return call

    for module, name in ((explicit, "half_step"), (implicit, "cg_half_step"),
                         (topk, "score_top_n")):
        monkeypatch.setattr(module, name, watched(getattr(module, name)))
    before = numba.get_num_threads(), blas_threads()
    dense = np.random.default_rng(0).integers(1, 6, size=(60, 40)).astype(float)
    dense[dense < 2] = np.nan
    model = sa.ExplicitALS(factors=4, iterations=1, random_state=0, num_threads=1).fit(dense)
    model.recommend(0)
    sa.ImplicitALS(factors=4, iterations=1, random_state=0, num_threads=1).fit(
        np.nan_to_num(dense))
    assert {name for name, _, _ in seen} == {"half_step", "cg_half_step", "score_top_n"}
    assert all(threads == 1 and blas == {1} for _, threads, blas in seen), seen
    assert (numba.get_num_threads(), blas_threads()) == before


class _FakeController:
    def __init__(self, *cores):
        self.cores = cores

    def info(self):
        return [{"internal_api": "openblas", "version": "0.3.30", "architecture": core}
                for core in self.cores] + [{"internal_api": "openmp", "version": None}]


def test_blas_advice_names_avx2_kernels_on_an_avx512_cpu(monkeypatch):
    """OpenBLAS's Haswell kernels on an AVX-512 CPU (AMD Zen 5) run at half the speed of
    its AVX-512 ones: sgemm 240 against 465 GFLOP/s, ExplicitALS 2.2x slower."""
    from llvmlite import binding

    from sparseals import _threads

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    avx512 = {name: True for name in _threads._AVX512_FEATURES}
    monkeypatch.setattr(binding, "get_host_cpu_features", lambda: dict(avx512, avx2=True))
    monkeypatch.setattr(_threads, "_blas_controller", lambda: _FakeController("Haswell"))
    advice = _threads.blas_advice()
    assert advice.startswith("OpenBLAS 0.3.30 runs its Haswell kernels on this CPU, which has "
                             "AVX-512: set OPENBLAS_CORETYPE=SkylakeX before Python starts")
    monkeypatch.setattr(_threads, "_blas_controller",
                        lambda: _FakeController("Haswell", "SkylakeX"))
    assert _threads.blas_advice().startswith("OpenBLAS 0.3.30 runs its Haswell kernels")
    for cores in (("SkylakeX",), ("Cooperlake", "SapphireRapids")):
        monkeypatch.setattr(_threads, "_blas_controller", lambda: _FakeController(*cores))
        assert _threads.blas_advice() is None
    monkeypatch.setattr(_threads, "_blas_controller", lambda: _FakeController("Haswell"))
    monkeypatch.setattr(binding, "get_host_cpu_features", lambda: {"avx2": True})
    assert _threads.blas_advice() is None  # no AVX-512: Haswell's kernels are the right ones

    def unsupported():
        raise RuntimeError("no feature list")

    monkeypatch.setattr(binding, "get_host_cpu_features", unsupported)
    assert _threads.blas_advice() is None


def test_blas_advice_names_the_variable_that_forces_older_kernels(monkeypatch):
    """Some machines set OPENBLAS_CORETYPE=Haswell (for older OpenBLAS builds); on AMD Zen 5
    it, not OpenBLAS's own choice (SkylakeX), put numpy's and scipy's BLAS on AVX2 kernels.
    Advising to set the variable there would be wrong: the advice is to start without it."""
    from llvmlite import binding

    from sparseals import _threads

    avx512 = {name: True for name in _threads._AVX512_FEATURES}
    monkeypatch.setattr(binding, "get_host_cpu_features", lambda: dict(avx512, avx2=True))
    monkeypatch.setattr(_threads, "_blas_controller",
                        lambda: _FakeController("Haswell", "Haswell"))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    advice = _threads.blas_advice()
    assert advice.startswith("OPENBLAS_CORETYPE=Haswell in the environment has OpenBLAS "
                             "0.3.30 run their Haswell kernels on this CPU, which has AVX-512: ")
    assert "start Python without it" in advice and "set OPENBLAS_CORETYPE" not in advice
    monkeypatch.setattr(_threads, "_blas_controller", lambda: _FakeController("SkylakeX"))
    assert _threads.blas_advice() is None  # a variable that names AVX-512 kernels is fine
