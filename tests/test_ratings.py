import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sparseals import Ratings


def random_coo(rng, n_users=30, n_items=20, density=0.3):
    dense = np.where(rng.random((n_users, n_items)) < density,
                     rng.integers(1, 6, (n_users, n_items)).astype(float), np.nan)
    users, items = np.nonzero(~np.isnan(dense))
    order = rng.permutation(len(users))
    return dense, users[order], items[order], dense[users, items][order]


def test_from_coo_holds_the_same_data_both_ways():
    rng = np.random.default_rng(0)
    dense, users, items, values = random_coo(rng)
    r = Ratings.from_coo(users, items, values, shape=dense.shape)
    assert r.shape == dense.shape and r.nnz == len(values)
    np.testing.assert_array_equal(r.to_dense(), dense.astype(np.float32))
    np.testing.assert_array_equal(r.csr.toarray(), np.nan_to_num(dense))
    np.testing.assert_array_equal(r.csc.toarray(), np.nan_to_num(dense))
    for side in (r.by_user, r.by_item):
        assert side.indices.dtype == np.int32 and side.indptr.dtype == np.int32
        assert side.data.dtype == np.float32


def test_dtype_float64_and_astype_shares_indices():
    r = Ratings.from_coo([0, 1], [1, 0], [1.5, 2.5], dtype="float64")
    assert r.dtype == np.float64
    r32 = r.astype("float32")
    assert r32.dtype == np.float32 and r32.by_user.indices is r.by_user.indices
    assert r.astype(np.float64) is r


def test_shape_defaults_and_explicit_zero_is_a_rating():
    r = Ratings.from_coo([0, 2], [3, 0], [0.0, 1.0])
    assert r.shape == (3, 4) and r.nnz == 2
    assert r.to_dense()[0, 3] == 0.0 and np.isnan(r.to_dense()[1, 1])


@pytest.mark.parametrize("how, expected", [("sum", 7.0), ("last", 3.0), ("mean", 3.5)])
def test_duplicates_are_combined_on_request(how, expected):
    r = Ratings.from_coo([0, 1, 0], [0, 1, 0], [4.0, 2.0, 3.0], duplicates=how)
    assert r.nnz == 2 and r.to_dense()[0, 0] == expected and r.to_dense()[1, 1] == 2.0


def test_duplicates_are_an_error_by_default():
    with pytest.raises(ValueError, match=r"1 duplicated .* \(0, 0\), is at positions 0 and 2"):
        Ratings.from_coo([0, 1, 0], [0, 1, 0], [4.0, 2.0, 3.0])


def test_from_dataframe_encodes_arbitrary_ids():
    df = pd.DataFrame({"u": ["bob", "ann", "bob"], "i": [20, 10, 10], "r": [1.0, 2.0, 3.0]})
    r = Ratings.from_dataframe(df, user="u", item="i", rating="r")
    assert list(r.user_ids) == ["ann", "bob"] and list(r.item_ids) == [10, 20]
    np.testing.assert_array_equal(r.to_dense(), [[2.0, np.nan], [3.0, 1.0]])
    assert Ratings.from_dataframe(df, user="u", item="i", rating=None).by_user.data.tolist() == [1, 1, 1]


def test_from_dataframe_returns_timestamps_in_by_user_order():
    """Bug: from_dataframe could not give the timestamps the time-based splits need, in
    by_user's order; df["ts"] (row order) was all there was, and it split wrongly."""
    rng = np.random.default_rng(3)
    users, items = np.divmod(rng.permutation(40)[:25], 5)  # 25 distinct pairs, rows shuffled
    stamps = rng.integers(0, 10**9, 25)
    df = pd.DataFrame({"u": users * 10, "i": items - 2, "r": rng.random(25), "ts": stamps})
    r, ts = Ratings.from_dataframe(df, "u", "i", "r", timestamp="ts")
    assert ts.dtype == np.int64 and len(ts) == r.nnz
    rows = np.repeat(np.arange(r.shape[0]), np.diff(r.by_user.indptr))
    when = dict(zip(zip(df.u, df.i), df.ts))
    assert ts.tolist() == [when[r.user_ids[u], r.item_ids[i]]
                           for u, i in zip(rows, r.by_user.indices)]
    assert ts.tolist() != df.ts.tolist()  # the row order is not the stored order
    np.testing.assert_array_equal(r.to_dense(), Ratings.from_dataframe(df, "u", "i", "r").to_dense())


@pytest.mark.parametrize("how", ["sum", "last", "mean"])
def test_from_dataframe_merged_pair_gets_its_latest_timestamp(how):
    """As read_ratings does, whichever value duplicates= keeps."""
    df = pd.DataFrame({"u": [5, 1, 5, 5], "i": [7, 7, 7, 8], "r": [1.0, 2.0, 3.0, 4.0],
                       "ts": [300, 200, 100, 50]})
    r, ts = Ratings.from_dataframe(df, "u", "i", "r", duplicates=how, timestamp="ts")
    assert r.nnz == 3 and ts.tolist() == [200, 300, 50]  # (1, 7), (5, 7), (5, 8)


def test_from_dataframe_timestamp_column_kinds():
    """Datetimes (tz-aware ones from UTC) count as Unix seconds; nullable integers work."""
    df = pd.DataFrame({"u": [1, 0], "i": [0, 0], "r": [1.0, 2.0]})
    for column in (pd.array([20, 10], dtype="Int64"), np.array([20, 10], dtype=np.uint32),
                   pd.to_datetime([20, 10], unit="s"),
                   pd.to_datetime([20, 10], unit="s", utc=True).tz_convert("Asia/Tokyo")):
        assert Ratings.from_dataframe(df.assign(ts=column), "u", "i", "r",
                                      timestamp="ts")[1].tolist() == [10, 20]


@pytest.mark.parametrize("ids", [
    np.array([7, 3, 7, 0, 3, 12]), np.array([7, 3, 7, 0], dtype=np.uint8),
    np.array([2**63 + 5, 3, 2**63 + 5], dtype=np.uint64),  # past the table: sorted instead
    np.array([-4, 9, -4]), pd.array([30, 10, 30], dtype="Int64"),
    np.array([1.5, 0.5, 1.5]), np.array(["b", "a", "b"], dtype=object),
    pd.Categorical(["b", "a", "b"]),
])
def test_from_dataframe_codes_ids_in_sorted_order_like_factorize(ids):
    # the reference: pandas' own sorted factorisation (integer ids now go through a table)
    codes, uniques = pd.factorize(pd.Series(ids), sort=True)
    n = len(uniques)
    df = pd.DataFrame({"u": ids, "i": np.arange(len(ids)), "r": np.arange(1.0, len(ids) + 1)})
    r = Ratings.from_dataframe(df, user="u", item="i", rating="r", duplicates="sum")
    np.testing.assert_array_equal(r.user_ids, np.asarray(uniques))
    assert r.user_ids.dtype == np.asarray(uniques).dtype and r.shape == (n, len(ids))
    expected = np.full((n, len(ids)), np.nan)
    expected[codes, np.arange(len(ids))] = df["r"]
    np.testing.assert_array_equal(r.to_dense(), expected)


def test_from_dataframe_reports_duplicates_with_original_ids():
    df = pd.DataFrame({"u": ["x", "x"], "i": ["a", "a"], "r": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"\(x, a\)"):
        Ratings.from_dataframe(df, user="u", item="i", rating="r")


@pytest.mark.parametrize("ids, kinds", [([1, "1", 2, "a"], "int, str"),
                                        ([1, True, 2, 3], "bool, int"),
                                        ([1.5, "a", "b", "c"], "float, str")])
def test_from_dataframe_rejects_an_id_column_mixing_kinds(ids, kinds):
    """1 and '1' were two users without a word, and True merged into user 1."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"userId": pd.Series(ids, dtype=object), "movieId": [1, 2, 2, 1],
                       "rating": [3.0, 4.0, 5.0, 1.0]})
    with pytest.raises(TypeError, match=rf"user column 'userId' mixes kinds of ids \({kinds}\)"):
        Ratings.from_dataframe(df)
    with pytest.raises(TypeError, match=r"item column 'userId' mixes kinds"):
        Ratings.from_dataframe(df, user="movieId", item="userId")


def test_from_dataframe_object_columns_of_one_kind():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"userId": pd.Series([7, 2, 7, 2**70], dtype=object),
                       "movieId": pd.Series([(1, 2), (3, 4), (3, 4), (1, 2)], dtype=object),
                       "rating": [3.0, 4.0, 5.0, 1.0]})
    r = Ratings.from_dataframe(df.iloc[:3])  # Python ints: int64 ids
    assert r.user_ids.dtype == np.int64 and r.user_ids.tolist() == [2, 7]
    assert r.item_ids.tolist() == [(1, 2), (3, 4)]  # any one hashable kind still works
    assert Ratings.from_dataframe(df).user_ids.tolist() == [2, 7, 2**70]  # past int64


def test_from_dense_and_duplicates_keep_to_their_promises():
    # a fully observed float32 array was shared: editing it afterwards changed the Ratings
    array = np.ones((2, 3), dtype=np.float32)
    r = Ratings.from_dense(array)
    array[0, 0] = 100.0
    assert r.to_dense()[0, 0] == 1.0
    # duplicates were combined in float32: the mean of 3e38 and 3e38 was inf
    assert Ratings.from_coo([0, 0], [1, 1], [3e38, 3e38], duplicates="mean").to_dense()[0, 1] \
        == np.float32(3e38)
    with pytest.raises(ValueError, match="the sum of duplicated pairs .* too large for float32"):
        Ratings.from_coo([0, 0], [1, 1], [3e38, 3e38], duplicates="sum")


def test_from_dense_nan_is_missing_and_full_matrix_is_fully_observed():
    r = Ratings.from_dense([[1.0, np.nan], [2.0, 3.0]])
    assert r.nnz == 3 and not r.is_fully_observed
    full = Ratings.from_dense(np.arange(6.0).reshape(2, 3))
    assert full.is_fully_observed
    np.testing.assert_array_equal(full.csc.toarray(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok"])
def test_from_sparse_any_format(fmt):
    m = sp.random(15, 12, density=0.3, random_state=3, format=fmt)
    r = Ratings.from_sparse(m, dtype="float64")
    np.testing.assert_array_equal(r.csr.toarray(), m.toarray())
    r2 = Ratings.from_sparse(sp.csr_array(m))
    assert r2.nnz == m.nnz


@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix", "csr_array", "csc_array"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_sparse_compressed_inputs_canonical_or_not(kind, dtype):
    """Canonical CSR / CSC are copied side by side (no COO round trip); unsorted
    indices, duplicates and a stale cached has_canonical_format take the general path.
    The result never shares memory with the input."""
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((20, 15)) < 0.3, rng.integers(0, 6, (20, 15)), 0.0)
    dense[3, 4] = 0.0
    cls = getattr(sp, kind)
    canonical = cls(dense.astype(dtype))
    canonical.data[:] += 1  # every stored entry a rating, none zero...
    canonical.data[0] = 0.0  # ...but an explicit zero is a rating too
    expected = canonical.toarray()
    for matrix in (canonical, canonical.copy()):
        r = Ratings.from_sparse(matrix, dtype=dtype)
        assert r.nnz == canonical.nnz and r.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(r.csr.toarray(), expected)
        np.testing.assert_array_equal(r.csc.toarray(), expected)
        for side in (r.by_user, r.by_item):
            for array in side:
                assert not np.may_share_memory(array, matrix.data)
                assert not np.may_share_memory(array, matrix.indices)
                assert not np.may_share_memory(array, matrix.indptr)
        assert r.by_user.indices.dtype == np.int32 and r.by_user.indptr.dtype == np.int32
    # unsorted indices in one row (the cached flag is stale after the in-place edit)
    unsorted = canonical.copy()
    assert unsorted.has_canonical_format
    start, end = unsorted.indptr[1], unsorted.indptr[2]
    assert end - start >= 2
    unsorted.indices[start:end] = unsorted.indices[start:end][::-1].copy()
    unsorted.data[start:end] = unsorted.data[start:end][::-1].copy()
    np.testing.assert_array_equal(Ratings.from_sparse(unsorted, dtype=dtype).csr.toarray(),
                                  expected)
    # a duplicate pair behind a stale flag: an error (or summed on request), never kept twice
    duplicated = canonical.copy()
    assert duplicated.has_canonical_format
    duplicated.indices[start + 1] = duplicated.indices[start]
    with pytest.raises(ValueError, match="duplicate"):
        Ratings.from_sparse(duplicated, dtype=dtype)
    summed = Ratings.from_sparse(duplicated, dtype=dtype, duplicates="sum")
    assert summed.nnz == canonical.nnz - 1


def _edited(matrix, **arrays):
    """``matrix`` with index arrays overwritten in place: scipy converts such a matrix
    without complaint, moving entries between rows."""
    for name, values in arrays.items():
        getattr(matrix, name)[:] = values
    return matrix


@pytest.mark.parametrize("call, error, message", [
    (lambda: Ratings.from_coo([0, -1], [0, 1], [1, 2]), ValueError, r"users contains negative ids \(first at position 1"),
    (lambda: Ratings.from_coo([0, 1], [0, 5], [1, 2], shape=(2, 3)), ValueError, r"items contains id 5 at position 1, out of range for 3 items"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1, np.nan]), ValueError, r"values contains 1 NaN or infinite value\(s\) \(first at position 1"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [np.inf, 1]), ValueError, r"values contains 1 NaN or infinite"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1e300, 1]), ValueError, r"too large for float32"),
    (lambda: Ratings.from_coo([0, 1], [0], [1, 2]), ValueError, r"users, items, values must have the same length; got users=2, items=1, values=2"),
    (lambda: Ratings.from_coo([], [], []), ValueError, r"no ratings given"),
    (lambda: Ratings.from_coo([0.5, 1], [0, 1], [1, 2]), TypeError, r"users must hold integer indices; got dtype float64"),
    (lambda: Ratings.from_coo(["a", "b"], [0, 1], [1, 2]), TypeError, r"use Ratings.from_dataframe"),
    (lambda: Ratings.from_coo([True, False], [0, 1], [1, 2]), TypeError, r"users must hold integer indices; got dtype bool"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1 + 1j, 2]), TypeError, r"values must hold real numbers; got dtype complex128"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], ["a", "b"]), TypeError, r"values must hold real numbers"),
    (lambda: Ratings.from_coo([[0, 1]], [0, 1], [1, 2]), ValueError, r"users must be one-dimensional; got an array of shape \(1, 2\)"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1, 2], dtype="int32"), ValueError, r"dtype must be 'float32' or 'float64'; got 'int32'"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1, 2], duplicates="first"), ValueError, r"duplicates must be one of"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1, 2], shape=(2,)), ValueError, r"shape must be a pair of integers"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1, 2], shape=(2, 0)), ValueError, r"shape must be positive"),
    (lambda: Ratings.from_coo([0, 1], [0, 1], [1, 2], shape=(2**31, 2)), ValueError, r"limit of int32 indices"),
    (lambda: Ratings.from_coo(np.array([0, 2**40]), [0, 1], [1, 2]), ValueError, r"users contains id 1099511627776 at position 1"),
    (lambda: Ratings.from_dense([1.0, 2.0]), ValueError, r"must be 2-D; got shape \(2,\)"),
    (lambda: Ratings.from_dense(np.full((2, 2), np.nan)), ValueError, r"no observed cells"),
    (lambda: Ratings.from_dense(np.zeros((0, 3))), ValueError, r"is empty"),
    (lambda: Ratings.from_dense([[1.0, np.inf]]), ValueError, r"contains 1 infinite value\(s\) \(first at position \(0, 1\)"),
    (lambda: Ratings.from_sparse(np.eye(2)), TypeError, r"matrix must be a scipy.sparse matrix; got ndarray"),
    (lambda: Ratings.from_sparse(sp.csr_matrix((3, 3))), ValueError, r"has no stored entries"),
    (lambda: Ratings.from_sparse(sp.csr_matrix(np.array([[np.nan, 1.0]]))), ValueError, r"values contains 1 NaN"),
    (lambda: Ratings.from_sparse(_edited(sp.csr_matrix(np.ones((3, 2))), indptr=[0, 4, 2, 6])), ValueError, r"the sparse matrix.indptr decreases from 4 to 2 at position 2"),
    (lambda: Ratings.from_sparse(_edited(sp.csc_matrix(np.ones((3, 2))), indices=[0, 1, 2, 0, 3, 2])), ValueError, r"the sparse matrix.indices contains id 3 at position 4, out of range for 3 users"),
    (lambda: Ratings.from_sparse(_edited(sp.csr_matrix(np.ones((3, 2))), indices=[0, 1, 0, -1, 0, 1])), ValueError, r"the sparse matrix.indices contains negative ids"),
    (lambda: Ratings.from_sparse(_edited(sp.coo_matrix(np.ones((3, 2))), row=[7, 0, 1, 1, 2, 2])), ValueError, r"the sparse matrix.row contains id 7 at position 0, out of range for 3 users"),
    (lambda: Ratings.from_dataframe({"u": [1]}), TypeError, r"df must be a pandas DataFrame; got dict"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1], "i": [2]}), user="u", item="i", rating="r"), ValueError, r"rating column 'r' is not in the DataFrame; its columns are \['u', 'i'\]"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1.0, None], "i": [2, 3], "r": [1, 2]}), user="u", item="i", rating="r"), ValueError, r"user column 'u' has missing ids \(first at row 1\)"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [], "i": [], "r": []}), user="u", item="i", rating="r"), ValueError, r"the DataFrame is empty"),
    # each of these was accepted: values under a mask, block fill or dropped zeros as
    # ratings, float64 for dtype=None, a confusing message
    (lambda: Ratings.from_coo([0, 1, 2], [0, 1, 2], np.ma.masked_array([5.0, -999.0, 3.0], mask=[0, 1, 0])), ValueError, r"values is a masked array with masked entries"),
    (lambda: Ratings.from_coo(np.ma.masked_array([0, 7], mask=[0, 1]), [0, 1], [1, 2]), ValueError, r"users is a masked array with masked entries"),
    (lambda: Ratings.from_sparse(sp.csr_matrix(np.array([[5.0, 0.0], [0.0, 3.0]])).tobsr(blocksize=(2, 2))), TypeError, r"cannot tell a BSR matrix's ratings from its other cells"),
    (lambda: Ratings.from_sparse(sp.dia_matrix((np.array([[0.0, 2.0]]), [0]), shape=(2, 2))), TypeError, r"cannot tell a DIA matrix's ratings"),
    (lambda: Ratings.from_coo([0], [0], [1.0], dtype=None), ValueError, r"dtype must be 'float32' or 'float64'; got None"),
    (lambda: Ratings.from_sparse(sp.eye(2, format="csr")).astype(None), ValueError, r"dtype must be 'float32' or 'float64'; got None"),
    (lambda: Ratings.from_coo(pd.array([0, None], dtype="Int64"), [0, 1], [1, 2]), ValueError, r"users has missing ids \(NaN, first at position 1\)"),
    (lambda: Ratings.from_dense(sp.eye(2, format="csr")), TypeError, r"use Ratings.from_sparse for a scipy.sparse matrix"),
    (lambda: Ratings.from_dataframe(pd.DataFrame([[1, 2, 3.0]], columns=["userId", "userId", "rating"]), item="userId"), ValueError, r"user column 'userId' appears 2 times"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1], "i": [2], "r": [3.0]}), "u", "i", "r", timestamp="ts"), ValueError, r"timestamp column 'ts' is not in the DataFrame; its columns are \['u', 'i', 'r'\]"),
    # a None id column raised a bare KeyError: None
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1], "i": [2]}), user=None, item="i", rating=None), ValueError, r"user column None is not in the DataFrame; its columns are \['u', 'i'\]"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1], "i": [2]}), user="u", item=None, rating=None), ValueError, r"item column None is not in the DataFrame; its columns are \['u', 'i'\]"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1, 2], "i": [2, 2], "r": [3.0, 1.0], "t": pd.array([5, None], dtype="Int64")}), "u", "i", "r", timestamp="t"), ValueError, r"timestamp column 't' has missing times \(first at row 1\); fill them or drop those rows"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1, 2], "i": [2, 2], "r": [3.0, 1.0], "t": pd.to_datetime([5, None], unit="s")}), "u", "i", "r", timestamp="t"), ValueError, r"timestamp column 't' has missing times \(first at row 1\)"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1, 2], "i": [2, 2], "r": [3.0, 1.0], "t": [5.5, 6.0]}), "u", "i", "r", timestamp="t"), ValueError, r"timestamp column 't' must hold integer times; got float64"),
    (lambda: Ratings.from_dataframe(pd.DataFrame({"u": [1, 2], "i": [2, 2], "r": [3.0, 1.0], "t": ["x", "y"]}), "u", "i", "r", timestamp="t"), ValueError, r"timestamp column 't' must hold integer times; got object"),
])
def test_every_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_from_dense_reads_a_masked_arrays_mask_as_unobserved():
    array = np.ma.masked_array([[1, 2], [3, 4]], mask=[[True, False], [False, True]])
    r = Ratings.from_dense(array)
    np.testing.assert_array_equal(r.csr.toarray(), [[0, 2], [3, 0]])
    assert r.nnz == 2
    with pytest.raises(TypeError, match="must hold real numbers"):
        Ratings.from_dense(np.ma.masked_array([["a"]], mask=[[False]]))


def test_non_contiguous_and_big_endian_inputs_are_accepted():
    users = np.arange(20)[::2]
    values = np.arange(10, dtype=">f8") + 1
    r = Ratings.from_coo(users, np.zeros(10, dtype=">i4"), values)
    assert r.shape == (19, 1) and r.by_user.data.dtype == np.float32
    np.testing.assert_array_equal(r.by_item.data, np.arange(10) + 1)


def test_repr_says_size():
    assert "2 users × 2 items, 2 ratings" in repr(Ratings.from_coo([0, 1], [0, 1], [1, 2]))


def test_masked_array_without_masked_entries_is_plain():
    r = Ratings.from_coo(np.ma.masked_array([0, 1]), [0, 1], np.ma.masked_array([4.0, 2.0]))
    np.testing.assert_array_equal(r.csr.toarray(), [[4, 0], [0, 2]])


def test_from_dense_reads_pandas_missing_values_as_unobserved():
    """A DataFrame of nullable columns was refused as "dtype object"."""
    frame = pd.DataFrame({"a": pd.array([1.0, None], dtype="Float64"),
                          "b": pd.array([None, 2], dtype="Int64")})
    np.testing.assert_array_equal(Ratings.from_dense(frame).to_dense(), [[1, np.nan], [np.nan, 2]])


def test_from_dataframe_categorical_and_sparse_id_columns():
    """Categorical ids were coded in category order, not sorted; a sparse id column
    raised "Cannot interpret 'Sparse[int64, 0]' as a data type"."""
    frame = pd.DataFrame({"u": pd.Categorical(["c", "b", "a"], categories=["c", "b", "a"]),
                          "i": pd.arrays.SparseArray([3, 1, 2]), "r": [1.0, 2.0, 3.0]})
    r = Ratings.from_dataframe(frame, user="u", item="i", rating="r")
    assert r.user_ids.tolist() == ["a", "b", "c"] and r.item_ids.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(r.to_dense(), [[np.nan, 3, np.nan], [2, np.nan, np.nan],
                                                 [np.nan, np.nan, 1]])


def test_integer_id_table_is_in_proportion_to_the_rows():
    """Three rows with an id just under 2²⁴ built a 16M-entry table (80 MB)."""
    import tracemalloc

    frame = pd.DataFrame({"userId": [1, 16_777_215, 5], "movieId": [1, 2, 3],
                          "rating": [1.0, 2.0, 3.0]})
    tracemalloc.start()
    try:
        r = Ratings.from_dataframe(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.user_ids.tolist() == [1, 5, 16_777_215]
    assert peak < 1 << 20


def test_a_shape_too_large_for_memory_is_refused_before_allocating(monkeypatch):
    """shape=(2³¹ − 1, 2³¹ − 1) for 3 ratings got the process killed by the system."""
    import sparseals._memory

    monkeypatch.setattr(sparseals._memory, "available_bytes", lambda: 1 << 30)
    with pytest.raises(MemoryError, match=r"shape \(50000000, 20000000\) needs about 1.0 GiB "
                                          r"for its per-user and per-item arrays, more than "
                                          r"the 1.0 GiB available; is the shape right\? "
                                          r"\(3 ratings\)"):
        Ratings.from_coo([0, 1, 2], [0, 1, 2], [1.0, 2.0, 3.0], shape=(50_000_000, 20_000_000))
    wide = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 70_000_000))
    with pytest.raises(MemoryError, match=r"shape \(1, 70000000\)"):
        Ratings.from_sparse(wide)
    assert Ratings.from_coo([0], [0], [1.0], shape=(1000, 1000)).shape == (1000, 1000)


@pytest.mark.parametrize("how, bound", [("last", 2.8), ("sum", 1.9), ("mean", 2.3)])
def test_combining_duplicates_peaks_within_a_bound(how, bound):
    """'last' peaked at 3.7x its COO input, 'sum' at 2.4x and 'mean' at 2.7x (the result
    itself, CSR and CSC, is 1.33x): the first conversion's arrays were kept alive."""
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 1_000_000
    users = rng.integers(0, 20_000, n).astype(np.int32)
    items = rng.integers(0, 4_000, n).astype(np.int32)
    values = rng.random(n).astype(np.float32)
    users[:1000], items[:1000] = users[1000:2000], items[1000:2000]
    tracemalloc.start()
    try:
        r = Ratings.from_coo(users, items, values, duplicates=how)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.nnz < n
    assert peak < bound * (users.nbytes + items.nbytes + values.nbytes)


def test_a_ratings_built_or_edited_by_hand_is_checked_where_it_is_used():
    """A Ratings whose arrays break its shape reached the numba kernels: an item index of
    2e9 crashed the process (segfault), one of 10**6 read outside the factors silently."""
    import sparseals as sa
    from sparseals.metrics import rmse
    from sparseals.model_selection import train_test_split
    from sparseals.ratings import Compressed

    good = Ratings.from_dense(np.where(np.eye(6, 5) + np.eye(6, 5, -1) > 0, 4.0, np.nan))
    model = sa.ExplicitALS(factors=2, iterations=1).fit(good)
    far = good.by_user.indices.copy()
    far[0] = 2_000_000_000
    broken = [
        (Ratings(good.by_user._replace(indices=far), good.by_item, good.shape),
         r"Ratings.by_user.indices contains id 2000000000 at position 0, out of range for 5 items"),
        (Ratings(good.by_user, good.by_item, (6, 4)), r"Ratings.by_user.indices contains id 4"),
        (Ratings(good.by_user._replace(indices=good.by_user.indices[:-1]), good.by_item,
                 good.shape), r"Ratings.by_user.indptr ends at 10, past the 9 entries"),
        (Ratings(good.by_user, Compressed(good.by_item.indptr, good.by_item.indices,
                                          good.by_item.data[:-1]), good.shape),
         r"Ratings.by_item holds 10 entries by its indptr, 10 indices and 9 values"),
        (Ratings(good.by_user, Ratings.from_dense(np.ones((6, 5))).by_item, good.shape),
         r"Ratings.by_user holds 10 ratings and by_item 30; they must be the same ratings"),
    ]
    for ratings, message in broken:
        for call in (lambda: sa.ExplicitALS(factors=2, iterations=1).fit(ratings),
                     lambda: sa.ImplicitALS(factors=2, iterations=1).fit(ratings),
                     lambda: rmse(model, ratings),
                     lambda: train_test_split(ratings)):
            with pytest.raises(ValueError, match=message):
                call()
    edited = Ratings.from_dense(np.where(np.eye(6, 5) > 0, 4.0, np.nan))
    edited.by_item.indices[0] = 99  # in place, after the constructor
    with pytest.raises(ValueError, match=r"Ratings.by_item.indices contains id 99"):
        sa.ImplicitALS(factors=2, iterations=1).fit(edited)
