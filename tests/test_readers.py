"""File readers: read_ratings (text, Parquet, chunks), MovieLens loaders, titles."""

import bz2
import codecs
import gzip
import lzma
import os
import re

import numpy as np
import pytest

from sparseals.datasets import load_movielens, load_movielens_titles, read_ratings

ROWS = [("ann", 10, 4.0, 300), ("bob", 20, 2.5, 100), ("ann", 30, 1.0, 200),
        ("cid", 10, 5.0, 400), ("bob", 10, 3.0, 500)]


def write_csv(path, rows=ROWS, sep=",", header="user,item,rating,ts"):
    lines = ([header] if header else []) + [sep.join(str(x) for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def dense_of(ratings):
    """{(user id, item id): value} of a Ratings, by original ids."""
    rows = ratings.by_user
    users = np.repeat(np.arange(ratings.shape[0]), np.diff(rows.indptr))
    return {(ratings.user_ids[u].item(), ratings.item_ids[i].item()): float(x)
            for u, i, x in zip(users, rows.indices, rows.data)}


def expected(rows=ROWS):
    return {(u, i): float(r) for u, i, r, _ in rows}


# ------------------------------------------------------------------ read_ratings
def test_csv_by_name_with_text_ids(tmp_path):
    r = read_ratings(write_csv(tmp_path / "r.csv"), user="user", item="item", rating="rating")
    assert r.shape == (3, 3) and r.nnz == 5
    assert r.user_ids.tolist() == ["ann", "bob", "cid"] and r.item_ids.tolist() == [10, 20, 30]
    assert dense_of(r) == expected()
    assert r.by_user.data.dtype == np.float32


@pytest.mark.parametrize("sep", ["\t", ";", "|", " ", "::"])
def test_separator_is_guessed(tmp_path, sep):
    path = write_csv(tmp_path / "r.txt", sep=sep, header=None)
    r = read_ratings(path, user=0, item=1, rating=2)
    assert dense_of(r) == expected()


@pytest.mark.parametrize("chunksize", [1, 100])
def test_double_colon_files_with_a_colon_inside_a_field(tmp_path, chunksize):
    """'::' is read by splitting at ':' (pandas' fast parser); a ':' inside a field of a
    later line (it was refused) sends the file to the parser that splits at '::'."""
    path = tmp_path / "ratings.dat"
    path.write_text("u::i::r\n1::2::3\nu:9::tt:1::4\n1::2:5::3\n7::8::9\n")
    r = read_ratings(path, "u", "i", "r", chunksize=chunksize)
    assert dense_of(r) == {("1", "2"): 3.0, ("u:9", "tt:1"): 4.0, ("1", "2:5"): 3.0,
                           ("7", "8"): 9.0}
    for bad_line, message in (
            ("1:2::3", r"rating column 'r' has no value in line 3 \(an empty field or a short"),
            ("4::5::6:", r"rating column 'r' is not numeric: line 3 holds '6:'")):
        path.write_text(f"u::i::r\n1::2::3\n{bad_line}\n7::8::9\n")
        with pytest.raises(ValueError, match=message):
            read_ratings(path, "u", "i", "r", chunksize=chunksize)
    # in the last field of the first data line, which sizes pandas' frame: '12:30' was
    # read as 12 (on any other line it was an error)
    path.write_text("u::i::r::ts\n1::2::4::12:30\n3::4::5::13\n")
    with pytest.raises(ValueError, match=r"timestamp column 'ts' must hold integer times"):
        read_ratings(path, "u", "i", "r", timestamp="ts", chunksize=chunksize)


@pytest.mark.parametrize("bad_line", ["1:2::3", "1::2:5::3", "4::5::6:"])
def test_double_colon_files_with_a_short_first_data_line(tmp_path, bad_line):
    """pandas counts the fields of the first data line, which may be short."""
    path = tmp_path / "ratings.dat"
    path.write_text(f"u::i::r\n1::2\n{bad_line}\n7::8::9\n")
    with pytest.raises(ValueError, match=r"could not read .* with sep='::': (line \d has more "
                                         r"fields than the first line|line 2, the first data "
                                         r"line, has (\d fields, )?fewer)"):
        read_ratings(path, "u", "i", "r", chunksize=1)
    path.write_text("u::i::r\n1::2\n3::4\n")  # every data line short
    with pytest.raises(ValueError, match=r"line 2, the first data line, has fewer than the 3 "
                                         r"fields"):
        read_ratings(path, "u", "i", "r")


def test_double_colon_with_colons_in_the_first_line_takes_the_python_parser(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("a:b::10::4\nc::20::5\n")
    r = read_ratings(path, user=0, item=1, rating=2, sep="::")
    assert dense_of(r) == {("a:b", 10): 4.0, ("c", 20): 5.0}


def test_chunked_equals_whole_and_timestamps_align(tmp_path):
    rng = np.random.default_rng(0)
    keys = rng.choice(200 * 50, size=1500, replace=False)
    rows = [(f"u{k // 50}", int(k % 50) * 7, float(rng.integers(1, 6)), int(rng.integers(1e9)))
            for k in keys]
    path = write_csv(tmp_path / "r.csv", rows=rows)
    whole, ts_whole = read_ratings(path, "user", "item", "rating", timestamp="ts",
                                   dtype="float64")
    for chunksize in (1, 7, 333):
        part, ts_part = read_ratings(path, "user", "item", "rating", timestamp="ts",
                                     chunksize=chunksize, dtype="float64")
        assert part.user_ids.tolist() == whole.user_ids.tolist()
        np.testing.assert_array_equal(part.item_ids, whole.item_ids)
        for a, b in zip(part.by_user + part.by_item, whole.by_user + whole.by_item):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ts_part, ts_whole)
    assert sorted(whole.user_ids.tolist()) == whole.user_ids.tolist()
    stamp = {(u, i): t for u, i, _, t in rows}
    users = np.repeat(np.arange(whole.shape[0]), np.diff(whole.by_user.indptr))
    for u, i, t in zip(users, whole.by_user.indices, ts_whole):
        assert stamp[(whole.user_ids[u], int(whole.item_ids[i]))] == t


@pytest.mark.parametrize("late_ids", [(), (10**9, -5)])
def test_integer_ids_by_lookup_table_and_by_sorting_agree(tmp_path, late_ids):
    """Small non-negative ids are encoded through a table indexed by the id; a later chunk
    with a huge or a negative id moves the encoder to sorted arrays mid-file."""
    rng = np.random.default_rng(1)
    keys = rng.choice(40 * 30, size=300, replace=False)
    users, items = (keys // 30).tolist(), (keys % 30 * 3).tolist()
    for position, late in zip((220, 260), late_ids):
        users[position] = late
        items[position + 5] = late
    rows = [(u, i, float(rng.integers(1, 6)), 0) for u, i in zip(users, items)]
    path = write_csv(tmp_path / "r.csv", rows=rows)
    for chunksize in (1, 50, 1000):
        r = read_ratings(path, "user", "item", "rating", chunksize=chunksize)
        assert dense_of(r) == expected(rows)
        assert r.user_ids.tolist() == sorted(set(users))
        assert r.item_ids.tolist() == sorted(set(items))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_text_ids_are_hashed_and_sorted_once(tmp_path, monkeypatch, suffix):
    """np.unique sorted every chunk's Python strings: 10× the time of pandas' parsing."""
    import pandas as pd

    from sparseals.datasets import readers

    rows = [(f"u{k % 37}", f"i{k % 11}", float(k % 5 + 1)) for k in range(300)]
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    path = tmp_path / f"r{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    sorted_text = []
    unique = np.unique

    def counting_unique(ar, *args, **kwargs):
        sorted_text.append(np.asarray(ar).dtype == object)
        return unique(ar, *args, **kwargs)

    monkeypatch.setattr(readers.np, "unique", counting_unique)
    r = read_ratings(path, chunksize=7, duplicates="sum")
    monkeypatch.undo()
    assert sum(sorted_text) == 2  # the distinct users, then items, at the end
    whole = read_ratings(path, duplicates="sum")
    assert r.user_ids.tolist() == whole.user_ids.tolist() == sorted({u for u, _, _ in rows})
    assert r.item_ids.tolist() == sorted({i for _, i, _ in rows})
    np.testing.assert_array_equal(r.csr.toarray(), whole.csr.toarray())


def test_a_chunk_pandas_types_part_numbers_part_text_is_read_again_as_text():
    """pandas' low_memory parsing can give one object column of ints and strings; the
    hashed ids meet only when sorted at the end."""
    from sparseals.datasets import readers

    encoder = readers._IdEncoder("user", "u", readers._parquet_row)
    encoder.encode(readers._Text(np.array([0, 1, 0]), [7, "a"]), 0)
    with pytest.raises(readers._NumbersAndText, match="user column 'u' mixes numbers and text"):
        encoder.finish()


def test_an_id_lookup_table_is_sized_by_the_rows_read(tmp_path, monkeypatch):
    """A 3-row file with id 2**24 - 1 filled a 64 MB table (a floor of 2**24 entries)."""
    import tracemalloc

    from sparseals.datasets import readers

    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,rating\n16777215,1,4\n1,16777215,3\n5,5,1\n")
    monkeypatch.setattr(readers._Segments, "_BYTES", 1024)  # untouched, but traced
    read_ratings(path)  # pandas' first-use allocations
    tracemalloc.start()
    try:
        r = read_ratings(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert r.user_ids.tolist() == r.item_ids.tolist() == [1, 5, 16777215]


def test_ids_move_between_lookup_table_and_sorted_ids_as_rows_are_read(tmp_path, monkeypatch):
    """An id too large for the rows read so far is sorted; once enough rows are read, the
    ids return to a table (which must hold every id seen, not only the chunk's)."""
    from sparseals.datasets import readers

    monkeypatch.setattr(readers._IdEncoder, "_TABLE_SLACK", 8)
    rng = np.random.default_rng(3)
    users = [60] + rng.integers(0, 50, 199).tolist()
    users[120] = 700  # the table is left again, and entered again near the end
    rows = [(u, k, 1.0, 0) for k, u in enumerate(users)]
    path = write_csv(tmp_path / "r.csv", rows=rows)
    for chunksize in (1, 3, 1000):
        r = read_ratings(path, "user", "item", "rating", chunksize=chunksize)
        assert dense_of(r) == expected(rows)
        assert r.user_ids.tolist() == sorted(set(users))


def test_gzip_and_no_rating_column(tmp_path):
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("user,item\n1,5\n2,5\n2,6\n")
    r = read_ratings(path, user="user", item="item", rating=None)
    assert r.nnz == 3 and np.all(r.by_user.data == 1)


TEXT = "user,item,rating\n1,5,4\n2,5,3\n2,6,5\n"


@pytest.mark.parametrize("name, content", [
    ("bom.csv", b"\xef\xbb\xbf" + TEXT.encode()),  # Excel's UTF-8: the header was '\ufeffuser'
    ("utf16.csv", TEXT.encode("utf-16")),
    ("utf16be.csv", b"\xfe\xff" + TEXT.encode("utf-16-be")),
    ("utf32.csv", TEXT.encode("utf-32")),
    ("gzip_named.csv", gzip.compress(TEXT.encode())),  # compression by content, not name
    ("bz2_named.txt", bz2.compress(TEXT.encode())),
    ("plain_named.csv.gz", TEXT.encode()),
    ("xz_bom.csv.xz", lzma.compress(b"\xef\xbb\xbf" + TEXT.encode())),
])
def test_encoding_and_compression_come_from_the_bytes(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    r = read_ratings(path, user="user", item="item", rating="rating")
    assert r.user_ids.tolist() == [1, 2] and r.item_ids.tolist() == [5, 6]
    np.testing.assert_array_equal(r.by_user.data, [4, 3, 5])


@pytest.mark.parametrize("content, message", [
    (bytes(range(256)) * 4, r"is not delimited text in utf-8: its first bytes hold NUL"),
    (b"PK\x03\x04" + bytes(40), r"is not delimited text: it is a zip archive; unzip it first"),
    (b"PAR1" + bytes(40), r"r.csv is not a readable Parquet file"),  # read as one
    (gzip.compress(("user,item,rating\n" + "".join(f"{i},{i},4\n" for i in range(5000)))
                   .encode())[:2000],
     r"its gzip stream is truncated or corrupt"),  # was an EOFError
], ids=["binary", "zip", "parquet", "truncated-gzip"])
def test_files_that_are_not_text_are_named(tmp_path, content, message):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_ratings(path, user="user", item="item", rating="rating")


@pytest.mark.parametrize("content", [
    "user,item,rating\n1,5,4,5\n2,5,3\n",  # a decimal comma: pandas read rating 4
    "user,item,rating\n1,5,4\n2,5,3\n2,6,4,5\n",
])
def test_a_line_with_more_fields_than_the_first_is_an_error(tmp_path, content):
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"line [24] has more fields than the first line.*; "
                                         r"check sep= \(a decimal comma in a file separated "
                                         r"by ','\?\)"):
        read_ratings(path, user="user", item="item", rating="rating")


def test_a_wide_file_reads_columns_past_the_wanted_count(tmp_path):
    # 10 fields: only the wanted columns are parsed (and the first lines checked whole)
    path = tmp_path / "r.csv"
    path.write_text("a,b,c,d,e,f,user,g,item,stars\n" + "".join(
        f"x,x,x,x,x,x,{u},x,{i},{s}\n" for u, i, s in [(1, 5, 4.0), (2, 5, 3.0), (2, 6, 1.5)]))
    r = read_ratings(path, user="user", item="item", rating="stars")
    assert r.user_ids.tolist() == [1, 2] and r.item_ids.tolist() == [5, 6]
    np.testing.assert_array_equal(r.by_user.data, [4.0, 3.0, 1.5])


def test_a_column_missing_from_the_data_lines_is_named(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating,ts\n1,5,4\n2,5,3\n")
    assert read_ratings(path, user="user", item="item", rating="rating").nnz == 2
    with pytest.raises(ValueError, match=r"line 2, the first data line, has 3 fields, fewer "
                                         r"than the 4 of the first line: no timestamp column"):
        read_ratings(path, user="user", item="item", rating="rating", timestamp="ts")


def test_integral_float_ids_past_int64_stay_floats(tmp_path):
    # 1e20 was cast to int64 with a RuntimeWarning and became -9223372036854775808
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1e20,5,4\n3,5,2\n")
    r = read_ratings(path, user="user", item="item", rating="rating")
    assert r.user_ids.tolist() == [3.0, 1e20]


def test_duplicates_and_their_latest_timestamp(tmp_path):
    rows = ROWS + [("ann", 10, 2.0, 900)]
    path = write_csv(tmp_path / "r.csv", rows=rows)
    with pytest.raises(ValueError, match=r"1 duplicated \(user, item\) pair.*\(ann, 10\)"):
        read_ratings(path, "user", "item", "rating")
    r, ts = read_ratings(path, "user", "item", "rating", timestamp="ts", duplicates="mean")
    assert dense_of(r)[("ann", 10)] == 3.0 and r.nnz == 5
    assert ts[0] == 900  # (ann, 10) is the first pair in row-major order


def test_parquet_reads_like_csv(tmp_path):
    import pyarrow as pa  # in the test extras
    import pyarrow.parquet as pq

    table = pa.table({"user": [r[0] for r in ROWS], "item": [r[1] for r in ROWS],
                      "rating": [r[2] for r in ROWS], "ts": [r[3] for r in ROWS]})
    pq.write_table(table, tmp_path / "r.parquet", row_group_size=2)
    r, ts = read_ratings(tmp_path / "r.parquet", "user", "item", "rating", timestamp="ts",
                         chunksize=2)
    assert dense_of(r) == expected()
    c, ts_csv = read_ratings(write_csv(tmp_path / "r.csv"), "user", "item", "rating",
                             timestamp="ts")
    np.testing.assert_array_equal(ts, ts_csv)
    r2 = read_ratings(tmp_path / "r.parquet", user=0, item=1, rating=2)
    assert dense_of(r2) == expected()
    with pytest.raises(ValueError, match="rating column 'score' is not in .*columns are"):
        read_ratings(tmp_path / "r.parquet", "user", "item", "score")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        read_ratings(write_csv(tmp_path / "fake.parquet"), "user", "item", "rating")

    # decimal ratings and timestamp columns were rejected as not numeric / not integers
    from decimal import Decimal

    table = pa.table({"user": [1, 2], "item": [10, 20],
                      "rating": pa.array([Decimal("4.5"), Decimal("3")], pa.decimal128(4, 1)),
                      "when": pa.array([5, 6_000_000_000], pa.timestamp("s"))})
    pq.write_table(table, tmp_path / "d.parquet")
    r, ts = read_ratings(tmp_path / "d.parquet", "user", "item", "rating", timestamp="when")
    assert r.by_user.data.tolist() == [4.5, 3.0] and ts.tolist() == [5, 6_000_000_000]


@pytest.mark.parametrize("column, dtype", [
    (np.array(["2020-01-01", "2021-01-01"], "datetime64[s]"), "datetime64"),  # was its epoch time
    ([True, False], "bool"),  # 1 and 0
    (np.array([5, 6], "timedelta64[s]"), "timedelta64"),
    (np.array(["2020-01-01", "2021-01-01"], "datetime64[D]"), "datetime64"),  # date32
])
def test_parquet_ratings_that_are_not_numbers_are_refused(tmp_path, column, dtype):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"userId": [1, 2], "movieId": [10, 20], "rating": column}),
                   tmp_path / "r.parquet")
    with pytest.raises(TypeError, match=rf"rating column 'rating' must hold real numbers; got "
                                        rf"dtype {dtype}.*\(row 0 holds"):
        read_ratings(tmp_path / "r.parquet")
    # with a null, pyarrow hands booleans over as Python objects
    pq.write_table(pa.table({"userId": [1, 2], "movieId": [10, 20], "rating": [True, None]}),
                   tmp_path / "r.parquet")
    with pytest.raises(TypeError, match=r"must hold real numbers: row 0 holds True \(bool\)"):
        read_ratings(tmp_path / "r.parquet")


@pytest.mark.parametrize("chunksize", [1, 100])
def test_csv_boolean_ratings_are_refused(tmp_path, chunksize):
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,rating\n1,10,True\n2,20,False\n")  # read as 1.0 and 0.0
    with pytest.raises(TypeError, match=r"rating column 'rating' must hold real numbers; got "
                                        r"dtype bool \(line 2 holds True\)"):
        read_ratings(path, chunksize=chunksize)


@pytest.mark.parametrize("chunksize", [1, 100])
@pytest.mark.parametrize("text", ["1_0", "\u0664", "4\u00a0", "0x10"])
def test_csv_ratings_are_numbers_as_pandas_reads_them(tmp_path, chunksize, text):
    """float() read '1_0' as 10, an Arabic-Indic 4 as 4 and took a no-break space."""
    path = tmp_path / "r.csv"
    # in one chunk, the spellings pandas reads pass and the first other one is named
    path.write_text(f"userId,movieId,rating\n1,10, 4 \n2,20,-.5E1\n3,30,+2.\n4,40,3e-1\n"
                    f"5,50,{text}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"rating column 'rating' is not numeric: "
                                                   f"line 6 holds {text!r}")):
        read_ratings(path, chunksize=chunksize)


def test_missing_or_out_of_range_timestamps_name_their_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for stamps in (pa.array([np.datetime64(5, "s"), None], pa.timestamp("s")),  # was INT64_MIN
                   pa.array([5, None], pa.int64())):  # read as float64 NaN
        pq.write_table(pa.table({"userId": [1, 2], "movieId": [10, 20], "rating": [4.0, 3.0],
                                 "ts": stamps}), tmp_path / "r.parquet")
        with pytest.raises(ValueError, match=r"timestamp column 'ts' has no time in row 1 "
                                             r"\(an empty field, a null or a short line\)"):
            read_ratings(tmp_path / "r.parquet", timestamp="ts")
    path = tmp_path / "r.csv"
    for line in ("2,20,3", "2,20,3,"):  # was 'must hold integer times; got float64'
        path.write_text(f"userId,movieId,rating,ts\n1,10,4,5\n{line}\n3,30,1,7\n")
        with pytest.raises(ValueError, match=r"timestamp column 'ts' has no time in line 3"):
            read_ratings(path, timestamp="ts")
    # uint64 past 2**63 - 1 wrapped to a negative time
    path.write_text("userId,movieId,rating,ts\n1,10,4,5\n2,20,3,18446744073709551615\n")
    for chunksize in (1, 100):
        with pytest.raises(ValueError, match=r"timestamp column 'ts' holds 18446744073709551615 "
                                             r"in line 3, past the largest time int64 holds"):
            read_ratings(path, timestamp="ts", chunksize=chunksize)
    path.write_text("userId,movieId,rating,ts\n1,10,4,5\n2,20,3,9223372036854775807\n")
    assert read_ratings(path, timestamp="ts")[1].tolist() == [5, 2**63 - 1]


def test_parquet_without_pyarrow_gives_install_hint(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("no pyarrow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    with pytest.raises(ImportError, match=r"needs pyarrow: pip install pyarrow"):
        read_ratings(tmp_path / "r.parquet", "user", "item", "rating")


@pytest.mark.parametrize("content, kwargs, message", [
    ("user,item,rating\n", {}, "holds no ratings"),
    ("", {}, "is empty"),
    ("user,item,rating\n1,2,3\n", {"rating": "score"},
     r"rating column 'score' is not in the header .*columns are \['user', 'item', 'rating'\]"),
    ("user,item,rating\n1,2,x\n1,3,4\n", {}, r"rating column 'rating' is not numeric: line 2 "
                                            r"holds 'x'; check sep="),
    ("user,item,rating\n1,2,3\n,3,4\n", {},
     r"user column 'user' has missing ids \(first at line 3\)"),
    ("user,item,rating\n1,2,inf\n", {}, r"rating column 'rating' contains 1 NaN or infinite"),
    ("a b c\n", {"user": 0, "item": 1, "rating": 5}, "rating column position 5 is out of range"),
    ("1,2,3\n", {"user": "user", "header": False}, "is a name, but header=False"),
    ("onlyonefield\n", {}, "cannot guess the separator"),
    ("user,item,rating\n1,2,3\n", {"duplicates": "max"}, r"duplicates must be one of"),
    ("user,item,rating\n1,2,3\n", {"chunksize": 0}, r"chunksize must be a positive integer"),
    ("user,item,rating\n1,2,3\n", {"user": 1.5}, r"user must be a column name or a non-negative"),
    ("user,item,rating\n1,2,3\n", {"format": "xls"}, r"format must be one of"),
])
def test_read_errors(tmp_path, content, kwargs, message):
    path = tmp_path / "r.csv"
    path.write_text(content)
    args = {"user": "user", "item": "item", "rating": "rating", **kwargs}
    with pytest.raises(ValueError, match=message):
        read_ratings(path, **args)


@pytest.mark.parametrize("ids, expected", [
    (["1", "2", "abc", "2"], ["1", "2", "abc"]),  # text after numbers: an error before
    (["007", "7", "ab", "7"], ["007", "7", "ab"]),  # '007' merged into 7 when chunked
    (["abc", "x", "007", "7"], ["007", "7", "abc", "x"]),  # numbers after text
    (["1.5", "7", "2", "8"], [1.5, 2.0, 7.0, 8.0]),  # fractional, then whole numbers
    (["7", "2", "1.5", "8"], [1.5, 2.0, 7.0, 8.0]),
    (["007", "7", "3", "9"], [3, 7, 9]),  # all numbers: '007' is 7, as pandas reads it
    # a uint64 chunk beside int64 ones: 2**64 - 1 wrapped to -1 when chunked
    (["1", "18446744073709551615", "5", "18446744073709551614"],
     [1, 5, 18446744073709551614, 18446744073709551615]),
    # no integer type holds both: text, as one chunk reads them (chunked: -1 and a merge)
    (["-3", "18446744073709551615", "5", "-1"], ["-1", "-3", "18446744073709551615", "5"]),
])
def test_id_types_do_not_depend_on_the_chunk_size(tmp_path, ids, expected):
    """pandas types each chunk's column apart; a column with any text id is read again
    as text, and whole and fractional numbers are floats together."""
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n" + "".join(f"{u},{i},3\n" for i, u in enumerate(ids)))
    for chunksize in (1, 2, 3, 100):
        r = read_ratings(path, "user", "item", "rating", chunksize=chunksize)
        assert r.user_ids.tolist() == expected, chunksize
        assert r.nnz == 4


def test_integers_past_2_53_beside_fractions_are_refused_in_any_chunk(tmp_path):
    """One chunk parsed them as floats and silently rounded 2**53 + 1 to 2**53."""
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1.5,1,3\n9007199254740993,2,3\n9007199254740992,3,3\n")
    for chunksize in (1, 100):
        with pytest.raises(ValueError, match="mixes fractional ids with integers past 2"):
            read_ratings(path, "user", "item", "rating", chunksize=chunksize)


def test_blank_lines_before_the_header(tmp_path):
    """pandas' skiprows counted the blank line, so the header was read as data."""
    (tmp_path / "a.csv").write_text("\n  \nuser,item\nu1,a\nu1,b\nu2,b\n")
    r = read_ratings(tmp_path / "a.csv", "user", "item", rating=None)
    assert r.nnz == 3 and r.user_ids.tolist() == ["u1", "u2"]
    (tmp_path / "b.csv").write_text("\n" + "".join(f"f{k}," for k in range(9))
                                    + "user,item,rating\n" + "," * 9 + "1,2,3\n")
    r = read_ratings(tmp_path / "b.csv", "user", "item", "rating")  # a wide file
    assert r.user_ids.tolist() == [1] and r.by_user.data.tolist() == [3.0]
    with gzip.open(tmp_path / "c.csv.gz", "wt") as f:
        f.write("\nuserId,movieId,rating,timestamp\n1,10,4.5,5\n")
    assert read_ratings(tmp_path / "c.csv.gz", timestamp="timestamp")[1].tolist() == [5]
    (tmp_path / "ratings.csv").write_text("\nuserId,movieId,rating,timestamp\n1,10,4.5,5\n")
    assert load_movielens(tmp_path / "ratings.csv").nnz == 1


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
@pytest.mark.parametrize("blank", [0, 1, 2, 4])
def test_blank_lines_before_the_header_with_any_line_ending(tmp_path, ending, blank):
    """pandas' skiprows counted two blank '\r' lines as one: data rows were dropped."""
    path = tmp_path / "r.csv"
    lines = [""] * blank + ["u,i,rating", "u1,a,4", "u2,b,3", "u3,c,1"]
    path.write_bytes(ending.join(lines).encode() + ending.encode())
    assert read_ratings(path, "u", "i", "rating").user_ids.tolist() == ["u1", "u2", "u3"]
    path.write_bytes(ending.join([""] * blank + ["1,2,3", "4,5,6"]).encode())
    assert read_ratings(path, user=0, item=1, rating=2).user_ids.tolist() == [1, 4]


def test_ids_pandas_would_read_as_booleans_or_infinities_are_text(tmp_path):
    """'True', 'true' and 'TRUE' were one bool user; 'inf' and 'Infinity' one float."""
    path = tmp_path / "b.csv"
    path.write_text("userId,movieId,rating\nTrue,1,4\ntrue,2,3\nTRUE,3,5\nFalse,1,2\n"
                    "inf,2,1\nInfinity,3,1\n")
    for chunksize in (1, 100):
        r = read_ratings(path, chunksize=chunksize)
        assert r.user_ids.tolist() == ["False", "Infinity", "TRUE", "True", "inf", "true"]
    path.write_text("u,i,rating\nu1,a,4\nu2,b,3\nu1, a,5\n")  # spaces on line 3 only
    with pytest.raises(ValueError, match="duplicated"):  # ' a' was an item of its own
        read_ratings(path, "u", "i", "rating")
    with pytest.raises(ValueError, match="only rating and timestamp may be None"):
        read_ratings(path, user=None, item="i")  # a bare KeyError 'user'


@pytest.mark.parametrize("chunksize", [1, 2, 100])
def test_text_ids_lose_the_spaces_around_them(tmp_path, chunksize):
    """'u1 ' and 'u1' were two users (the spaces before a field were dropped, not after)."""
    path = tmp_path / "r.csv"
    path.write_text("u,i,rating\nu1 ,a,4\nu1,b ,3\n u1\t, c ,5\nu2,a,1\n007 ,a,2\n7,b,2\n")
    r = read_ratings(path, "u", "i", "rating", chunksize=chunksize)
    assert r.user_ids.tolist() == ["007", "7", "u1", "u2"]
    assert r.item_ids.tolist() == ["a", "b", "c"]
    assert dense_of(r) == {("u1", "a"): 4.0, ("u1", "b"): 3.0, ("u1", "c"): 5.0,
                           ("u2", "a"): 1.0, ("007", "a"): 2.0, ("7", "b"): 2.0}
    path.write_text("u\ti\trating\nu1 \ta\t4\nu1\ta\t3\n")
    with pytest.raises(ValueError, match=r"1 duplicated \(user, item\) pair.*\(u1, a\)"):
        read_ratings(path, "u", "i", "rating", chunksize=chunksize)


def test_parquet_text_ids_are_kept_as_written(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"userId": [" u1", "u1 "], "movieId": [10, 10], "rating": [4, 3]}),
                   tmp_path / "r.parquet")
    assert read_ratings(tmp_path / "r.parquet").user_ids.tolist() == [" u1", "u1 "]


def test_header_fields_are_split_as_pandas_splits_them(tmp_path):
    """A quoted header name holding the separator shifted every column by one."""
    path = tmp_path / "q.csv"
    path.write_text('"a,b",userId,movieId,rating,x\n"p,q",1,10,4.5,7\n"r,s",2,20,3,8\n')
    r = read_ratings(path)
    assert r.user_ids.tolist() == [1, 2] and r.item_ids.tolist() == [10, 20]
    assert sorted(r.by_user.data.tolist()) == [3.0, 4.5]
    path.write_text("id,id,rating\n5,6,3\n7,8,4\n")
    with pytest.raises(ValueError, match="user column 'id' names 2 columns of the header"):
        read_ratings(path, "id", "id", "rating")


def test_only_empty_fields_are_missing_and_spaces_after_a_separator_are_dropped(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("user, item, rating\nNA, a, 4\nnull, b, 3\nNone, a, nan\n")
    with pytest.raises(ValueError, match=r"contains 1 NaN .*first at line 4"):
        read_ratings(path, "user", "item", "rating")
    path.write_text("user, item, rating\nNA, a, 4\nnull, b, 3\nNone, a, 1\n")
    r = read_ratings(path, "user", "item", "rating")
    assert r.user_ids.tolist() == ["NA", "None", "null"] and r.item_ids.tolist() == ["a", "b"]
    path.write_text("user,item,rating\n,a,4\n")
    with pytest.raises(ValueError, match="user column 'user' has missing ids"):
        read_ratings(path, "user", "item", "rating")


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".xz", lzma.compress),
                                              (".bz2", bz2.compress)])
def test_a_short_truncated_stream_is_a_clear_error(tmp_path, suffix, compress):
    """Damage in the first 4 KB escaped the sniffing as EOFError / LZMAError."""
    path = tmp_path / f"t.csv{suffix}"
    path.write_bytes(compress(b"userId,movieId,rating\n1,10,4.5\n2,20,3\n")[:20])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_ratings(path)


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        read_ratings(tmp_path)


def test_bad_rating_in_a_later_chunk_names_its_row_in_the_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,2,3\n2,2,3\n3,2,4\n4,2,nan\n5,2,1\n")
    message = (r"contains 1 NaN or infinite value\(s\) \(first at line 5: nan\); drop or "
               r"fill them \(counted from line 4 to line 5, where reading stopped\)")
    with pytest.raises(ValueError, match=message):
        read_ratings(path, "user", "item", "rating", chunksize=2)


def test_bytes_paths_and_an_unknown_encoding(tmp_path):
    """A bytes path was an internal TypeError, an unknown encoding a bare LookupError."""
    import os

    path = write_csv(tmp_path / "r.csv")
    r = read_ratings(os.fsencode(path), "user", "item", "rating")
    assert dense_of(r) == expected()
    (tmp_path / "u.data").write_text("1\t10\t4\t100\n")
    (tmp_path / "u.item").write_text("10|Ten (1995)|01-Jan-1995||url|0\n")
    assert load_movielens(os.fsencode(tmp_path)).nnz == 1
    assert load_movielens_titles(os.fsencode(tmp_path)) == {10: "Ten (1995)"}
    with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike; got 3"):
        read_ratings(3)
    for encoding in ("bogus", "base64", None):
        with pytest.raises(ValueError, match=f"encoding {encoding!r} is not a text encoding"):
            read_ratings(path, "user", "item", "rating", encoding=encoding)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="ratings file 'nowhere.csv' does not exist"):
        read_ratings("nowhere.csv")


# ------------------------------------------------------------------ MovieLens layouts
def test_movielens_layouts_on_small_files(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t100\n2\t10\t3\t50\n")
    (tmp_path / "ratings.dat").write_text("1::10::4::100\n2::10::3::50\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.0,100\n"
                                          "2,10,3.0,50\n")
    for name in ("u.data", "ratings.dat", "ratings.csv"):
        r, ts = load_movielens(tmp_path / name, return_timestamps=True)
        assert dense_of(r) == {(1, 10): 4.0, (2, 10): 3.0}, name
        assert ts.tolist() == [100, 50]
    renamed = tmp_path / "renamed.txt"
    renamed.write_text("1::10::4::100\n")
    assert load_movielens(renamed).nnz == 1


@pytest.mark.parametrize("name, content, message", [
    ("u.data", "1,10,4,100\n", r"not a MovieLens 100K .*expected lines like"),
    ("u.data", "user\titem\trating\tts\n1\t2\t3\t4\n", r"not a MovieLens 100K"),
    ("ratings.dat", "1\t10\t4\t100\n", r"not a MovieLens 1M"),
    ("ratings.csv", "user,item,rating\n1,2,3\n", r"its header is 'user,item,rating'"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n", r"expected lines like"),
    ("u.data", "1\t10\t4\t100\n2\t10\tx\t5\n", r"not a valid MovieLens 100K .*not numeric"),
    ("other.txt", "hello world\n", r"is not a MovieLens ratings file"),
])
def test_movielens_wrong_layout(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        load_movielens(tmp_path / name)


def test_movielens_folder_without_ratings(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MovieLens ratings file"):
        load_movielens(tmp_path)


def test_titles_from_small_files(tmp_path):
    (tmp_path / "u.item").write_bytes("1|Caf\xe9 (1995)|01-Jan-1995||url|0\n".encode("latin-1"))
    assert load_movielens_titles(tmp_path) == {1: "Café (1995)"}
    (tmp_path / "movies.csv").write_text('movieId,title,genres\n5,"Hello, World (2000)",Drama\n')
    assert load_movielens_titles(tmp_path / "movies.csv") == {5: "Hello, World (2000)"}
    (tmp_path / "movies.dat").write_text("7::Seven (1995)::Crime\n")
    assert load_movielens_titles(tmp_path / "movies.dat") == {7: "Seven (1995)"}
    (tmp_path / "bad.csv").write_text("id,name\n1,x\n")
    with pytest.raises(ValueError, match="is not a MovieLens movies.csv"):
        load_movielens_titles(tmp_path / "bad.csv")
    # a trailing blank line was 'line 3: ... found []'; 10M's movies.dat is UTF-8 (it was
    # decoded as latin-1 into 'CafÃ©'); latin-1 in movies.csv was a bare UnicodeDecodeError;
    # an empty movies.dat gave {} where an empty movies.csv raised
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),A\n\n")
    assert load_movielens_titles(tmp_path / "movies.csv") == {1: "Toy Story (1995)"}
    (tmp_path / "movies.dat").write_bytes("1::Caf\u00e9 (1995)::Drama\n".encode("utf-8"))
    assert load_movielens_titles(tmp_path / "movies.dat") == {1: "Caf\u00e9 (1995)"}
    (tmp_path / "movies.dat").write_bytes("1::Caf\u00e9 (1995)::Drama\n".encode("latin-1"))
    assert load_movielens_titles(tmp_path / "movies.dat") == {1: "Caf\u00e9 (1995)"}
    (tmp_path / "movies.csv").write_bytes("movieId,title,genres\n1,Caf\u00e9,A\n"
                                          .encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        load_movielens_titles(tmp_path / "movies.csv")
    (tmp_path / "movies.dat").write_text("")
    with pytest.raises(ValueError, match="holds no movie titles"):
        load_movielens_titles(tmp_path / "movies.dat")


@pytest.mark.parametrize("name, line", [("u.item", "1|Caf\u00e9 (1995)|01-Jan-1995||url|0\n"),
                                         ("movies.dat", "1::Caf\u00e9 (1995)::Drama\n")])
def test_titles_with_a_byte_order_mark(tmp_path, name, line):
    # latin-1 read the mark as part of the first id: 'line 1: expected movie id'
    (tmp_path / name).write_bytes(codecs.BOM_UTF8 + line.encode("utf-8"))
    assert load_movielens_titles(tmp_path / name) == {1: "Caf\u00e9 (1995)"}


def test_movielens_csv_with_a_byte_order_mark(tmp_path):
    # the layout probe read latin-1 and saw 'ï»¿userId,...'
    (tmp_path / "ratings.csv").write_bytes(b"\xef\xbb\xbfuserId,movieId,rating,timestamp\n"
                                           b"1,10,4.5,5\n")
    assert load_movielens(tmp_path).user_ids.tolist() == [1]


# ------------------------------------------------------------------ the real data sets
def test_ml100k(shared_data):
    r, ts = load_movielens(shared_data / "ml-100k", return_timestamps=True)
    assert (r.nnz, r.shape) == (100_000, (943, 1_682))
    assert r.user_ids.tolist() == list(range(1, 944))
    assert set(np.unique(r.by_user.data)) == {1, 2, 3, 4, 5}
    assert (ts.min(), ts.max()) == (874724710, 893286638) and len(ts) == r.nnz
    base = load_movielens(shared_data / "ml-100k" / "u1.base")
    test = load_movielens(shared_data / "ml-100k" / "u1.test")
    assert (base.nnz, test.nnz) == (80_000, 20_000)
    titles = load_movielens_titles(shared_data / "ml-100k")
    assert len(titles) == 1_682 and titles[1] == "Toy Story (1995)"


def test_ml_latest_small(shared_data):
    r = load_movielens(shared_data / "ml-latest-small")
    assert (r.nnz, r.shape) == (100_836, (610, 9_724))
    assert r.item_ids.max() == 193609
    assert set(np.unique(r.by_user.data)) == set(np.arange(1, 11) / 2)
    titles = load_movielens_titles(shared_data / "ml-latest-small")
    assert len(titles) == 9_742 and set(r.item_ids.tolist()) <= set(titles)


def test_filmtrust_duplicate_pairs(shared_data):
    # the data README says 4 pairs appear twice, but 35,497 rows with 35,494 distinct pairs
    # means 3 repeats in this copy (the 4th, "1 1 2", was the removed extra first line)
    path = shared_data / "filmtrust" / "ratings.txt"
    with pytest.raises(ValueError, match=r"3 duplicated \(user, item\) pair\(s\): the first, "
                                         r"\(308, 12\)"):
        read_ratings(path, user=0, item=1, rating=2)
    r = read_ratings(path, user=0, item=1, rating=2, duplicates="mean")
    assert (r.nnz, r.shape) == (35_494, (1_508, 2_071))


def test_lastfm_user_artists(shared_data):
    r = read_ratings(shared_data / "hetrec2011-lastfm-2k" / "user_artists.dat",
                     user="userID", item="artistID", rating="weight", dtype="float64",
                     chunksize=10_000)
    assert (r.nnz, r.shape) == (92_834, (1_892, 17_632))
    assert r.by_user.data.sum() == 69_183_975 and r.by_user.data.max() == 352_698


def test_header_read_as_data_by_positions_is_refused(tmp_path):
    """With rating=None nothing failed on the header line: it became a user and an item,
    and every id turned into text ('2' beside 'userID')."""
    path = tmp_path / "friends.dat"
    path.write_text("userID\tfriendID\n2\t275\n2\t428\n3\t275\n")
    with pytest.raises(ValueError, match=r"first line of .*friends.dat looks like a header, "
                                         r"not a rating: its user id 'userID' is the only one "
                                         r"that is not a number; pass header=True"):
        read_ratings(path, user=0, item=1, rating=None)
    r = read_ratings(path, user=0, item=1, rating=None, header=True)
    assert r.user_ids.tolist() == [2, 3] and r.item_ids.tolist() == [275, 428]
    r = read_ratings(path, user=0, item=1, rating=None, header=False)  # as asked: data
    assert r.nnz == 4 and r.user_ids.tolist() == ["2", "3", "userID"]


def test_a_file_not_in_the_encoding_says_to_pass_one(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("user,item,rating\nJosé,1,4\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"it is not utf-8 text: pass encoding= "
                                         r"\(e.g. 'latin-1'\)"):
        read_ratings(path, user="user", item="item")
    assert read_ratings(path, user="user", item="item", encoding="latin-1").user_ids == ["José"]


def test_text_ids_by_positions_are_not_taken_for_a_header(tmp_path):
    path = write_csv(tmp_path / "r.csv", header=None)
    r = read_ratings(path, user=0, item=1, rating=None)  # 'ann', 'bob', 'cid'
    assert r.user_ids.tolist() == ["ann", "bob", "cid"] and r.nnz == 5


def test_lastfm_user_friends_by_positions(shared_data):
    path = shared_data / "hetrec2011-lastfm-2k" / "user_friends.dat"
    with pytest.raises(ValueError, match="user id 'userID' is the only one that is not a"):
        read_ratings(path, user=0, item=1, rating=None)
    r = read_ratings(path, user=0, item=1, rating=None, header=True)
    assert (r.nnz, r.shape) == (25_434, (1_892, 1_892)) and r.user_ids.dtype.kind == "i"


def test_reading_across_many_storage_segments_equals_one_pass(tmp_path, monkeypatch):
    """Columns are stored in large segments (a memory fix); tiny ones must give the same."""
    from sparseals.datasets import readers

    rng = np.random.default_rng(5)
    cells = rng.choice(50 * 40, 300, replace=False)
    lines = ["userId,movieId,rating,ts"] + [f"{c // 40},{c % 40},{rng.integers(1, 6)},{i}"
                                            for i, c in enumerate(cells)]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    whole, stamps = read_ratings(path, timestamp="ts")
    monkeypatch.setattr(readers._Segments, "_BYTES", 40)  # 10 float32 or 5 int64 per segment
    split, split_stamps = read_ratings(path, timestamp="ts", chunksize=7)
    np.testing.assert_array_equal(split.csr.toarray(), whole.csr.toarray())
    np.testing.assert_array_equal(split.by_item.indices, whole.by_item.indices)
    np.testing.assert_array_equal(split_stamps, stamps)
    np.testing.assert_array_equal(split.user_ids, whole.user_ids)


# ---------------------------------------------------------------------- errors name file lines
NAMES = dict(user="u", item="i", rating="r")
POSITIONS = dict(user=0, item=1, rating=2)


@pytest.mark.parametrize("content, kwargs, message", [
    # 0-based data rows were named: 'row 1' for the 7th line of the file
    ("\n\nu,i,r\n\n1,3,4\n\n1,4,x\n", NAMES, "rating column 'r' is not numeric: line 7 holds 'x'"),
    ("u,i,r\r\n1,3,4\r\n\r\n1,4,x\r\n", NAMES, "is not numeric: line 4 holds 'x'"),  # CRLF
    ("u,i,r\r1,3,4\r\r1,4,x\r", NAMES, "is not numeric: line 4 holds 'x'"),  # CR alone
    ("1::2::3\n\n1::3::x\n", POSITIONS, "rating column 2 is not numeric: line 3 holds 'x'"),
    ("u,i,r\n1,3,4\n\n,4,5\n", NAMES, "user column 'u' has missing ids (first at line 4)"),
    ("u,i,r\n1,3,4\n\n1,4,nan\n", NAMES, "contains 1 NaN or infinite value(s) (first at line 4: "
                                         "nan); drop or fill them (counted from line "),
    ("u,i,r,t\n1,3,4,5\n\n1,4,5,\n", dict(NAMES, timestamp="t"),
     "timestamp column 't' has no time in line 4"),
    ("u,i,r\n1,3,4\n\n1,3,5\n", NAMES, "the first, (1, 3), is at line 2 and line 4"),
    # pandas' line numbers: the blank lines before the data were counted twice without a
    # header, and those between the header and the first data line not at all
    ("\n\n1,2,3\n\n1,3,4\n1,4,5,6\n", POSITIONS, "line 6 has more fields than the first line"),
    ("u,i,r\n\n1,3,4,6\n1,3,5\n", NAMES, "line 3 has more fields than the first line (4, not 3)"),
    ("\n1::2::3\n\n1::3::4::5\n", POSITIONS, "line 4 has more fields than the first line"),
    # a quoted field over two lines: the row is named by its number instead
    ('u,i,r\n1,"a\nb",4\n\n1,3,x\n', NAMES, "not numeric: data row 2 (counted from 1 after "
                                             "the header) holds 'x'"),
    ('1,2,3\n1,"a\nb",4\n\n1,3,x\n', POSITIONS, "not numeric: data row 3 (counted from 1) "
                                                "holds 'x'"),
])
@pytest.mark.parametrize("chunksize", [1, 100])
def test_errors_name_the_line_of_the_file(tmp_path, content, kwargs, message, chunksize):
    path = tmp_path / "r.txt"
    path.write_bytes(content.encode())
    with pytest.raises(ValueError, match=re.escape(message)):
        read_ratings(path, chunksize=chunksize, **kwargs)


def test_errors_name_the_line_of_a_compressed_file(tmp_path):
    path = tmp_path / "r.csv.gz"
    path.write_bytes(gzip.compress(b"u,i,r\n1,3,4\n\n\n1,4,x\n"))
    with pytest.raises(ValueError, match="is not numeric: line 5 holds 'x'"):
        read_ratings(path, **NAMES)


def test_parquet_errors_still_name_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"u": [1, 1], "i": [3, 3], "r": [4.0, 5.0]}), tmp_path / "r.parquet")
    with pytest.raises(ValueError, match=r"\(1, 3\), is at row 0 and row 1"):
        read_ratings(tmp_path / "r.parquet", **NAMES)


def test_titles_csv_errors_name_the_line_of_the_file(tmp_path):
    """A title quoted over two lines, and blank lines, shifted the line named: 'line 4'
    for the 6th."""
    path = tmp_path / "movies.csv"
    path.write_text('movieId,title,genres\n1,"Toy\nStory",A\n\n2,B,C\n3\n')
    with pytest.raises(ValueError, match=r"movies.csv, line 6: expected 'movie id, title"):
        load_movielens_titles(path)
    path.write_text('movieId,title,genres\n1,"Toy\nStory",A\n\nx,B,C\n')
    with pytest.raises(ValueError, match=r"movies.csv, line 5: expected 'movie id, title"):
        load_movielens_titles(path)


@pytest.mark.parametrize("line", ["2,3", "2,3,", "2,3, "])
@pytest.mark.parametrize("chunksize", [1, 100])
def test_a_missing_rating_is_named_as_one_not_as_nan(tmp_path, line, chunksize):
    """A short line or an empty field was 'contains 1 NaN or infinite value(s)'."""
    path = tmp_path / "r.csv"
    path.write_text(f"u,i,r\n1,2,3\n\n{line}\n")
    with pytest.raises(ValueError, match=r"rating column 'r' has no value in line 4 \(an empty "
                                         r"field or a short line\); fill it or drop the line"):
        read_ratings(path, chunksize=chunksize, **NAMES)
    path.write_text("u,i,r\nann,2,3\nbob,3,\ncy,4,nan\n")  # beside a written 'nan' (text)
    with pytest.raises(ValueError, match=r"has no value in line 3"):
        read_ratings(path, chunksize=chunksize, **NAMES)
    path.write_text("u,i,r\nann,2,3\ncy,4,nan\n")
    with pytest.raises(ValueError, match=r"contains 1 NaN or infinite value\(s\) \(first at "
                                         r"line 3: nan\)"):
        read_ratings(path, chunksize=chunksize, **NAMES)


@pytest.mark.parametrize("sep", [",", ", "])  # pandas' C and Python parsers
def test_a_short_first_data_line_is_named_not_the_next_one(tmp_path, sep):
    """'line 4 has more fields than the first line' blamed a full line after a short one."""
    path = tmp_path / "r.csv"
    path.write_text(sep.join("uir") + "\n\n" + sep.join("12") + "\n" + sep.join("234") + "\n")
    with pytest.raises(ValueError, match=r"line 3, the first data line, has 2 fields, fewer "
                                         r"than the 3 of the first line"):
        read_ratings(path, sep=sep, **NAMES)


@pytest.mark.parametrize("mode, what", [("w", "a tar archive;"),
                                        ("w:gz", r"a tar archive \(gzip\)"),
                                        ("w:xz", r"a tar archive \(xz\)")])
def test_a_tar_archive_is_named_as_one(tmp_path, mode, what):
    """A .tgz of a ratings file said 'its first bytes hold NUL characters (a binary file,
    or pass the right encoding=)'."""
    import tarfile

    (tmp_path / "ratings.csv").write_text("userId,movieId,rating\n1,10,4\n")
    path = tmp_path / "ratings.tar"
    with tarfile.open(path, mode) as archive:
        archive.add(tmp_path / "ratings.csv", arcname="ratings.csv")
    with pytest.raises(ValueError, match=f"is not delimited text: it is {what}.*extract it"):
        read_ratings(path)


@pytest.mark.parametrize("name", ["r.csv", "ratings.dat", "r"])
def test_a_parquet_file_is_recognised_by_its_bytes(tmp_path, name):
    """A Parquet file without a .parquet name was refused ('pass format='parquet''), an
    option the command line does not have."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / name
    pq.write_table(pa.table({"userId": [1, 2, 2], "movieId": [10, 20, 10],
                             "rating": [4.0, 3.0, 5.0]}), path)
    r = read_ratings(path)
    assert r.user_ids.tolist() == [1, 2] and r.item_ids.tolist() == [10, 20]
    np.testing.assert_array_equal(r.by_user.data, [4, 5, 3])
    with pytest.raises(ValueError, match=r"is not delimited text: it is a Parquet file; pass "
                                         r"format='parquet'"):
        read_ratings(path, format="csv")


@pytest.mark.parametrize("chunksize", [1, 100])
def test_a_parquet_null_rating_is_named_as_one_not_as_nan(tmp_path, chunksize):
    """A null rating was 'contains 1 NaN or infinite value(s)'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for values in ([4.0, 3.0, None], [4, 3, None]):
        pq.write_table(pa.table({"u": [1, 2, 2], "i": [10, 20, 10], "r": values}),
                       tmp_path / "r.parquet")
        with pytest.raises(ValueError, match=r"rating column 'r' has no value in row 2 \(a "
                                             r"null\); fill it or drop the row"):
            read_ratings(tmp_path / "r.parquet", chunksize=chunksize, **NAMES)
    pq.write_table(pa.table({"u": [1, 2], "i": [10, 20], "r": [4.0, float("nan")]}),
                   tmp_path / "r.parquet")
    with pytest.raises(ValueError, match=r"contains 1 NaN or infinite value\(s\) \(first at "
                                         r"row 1: nan\)"):
        read_ratings(tmp_path / "r.parquet", chunksize=chunksize, **NAMES)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_is_refused_before_it_is_read(tmp_path, fail_if_it_blocks):
    """A pipe (bash's <(zcat r.csv.gz)) 'does not exist', after a first read had consumed
    its start."""
    pipe = tmp_path / "r.csv"
    os.mkfifo(pipe)  # never to be opened: without a writer, that blocks
    for read in (read_ratings, load_movielens, load_movielens_titles):
        with pytest.raises(ValueError, match=r"is not a regular file \(a pipe or a device\?\), "
                                             r"which cannot be read twice; save it to a file"):
            read(pipe)


def test_a_decimal_comma_is_named(tmp_path):
    """'4,5' in a ';'-separated file said to check sep= and header=, which are right."""
    path = tmp_path / "r.csv"
    path.write_text("userId;movieId;rating\n1;10;3\n2;20;4,5\n")
    with pytest.raises(ValueError, match=r"rating column 'rating' is not numeric: line 3 holds "
                                         r"'4,5'; numbers are read with a decimal point, not a "
                                         r"comma: convert the file first"):
        read_ratings(path)
    path.write_text("userId;movieId;rating\n1;10;3\n2;20;4x\n")
    with pytest.raises(ValueError, match=r"holds '4x'; check sep=, header= and the column"):
        read_ratings(path)


@pytest.mark.parametrize("compress", [bytes, gzip.compress])
def test_bytes_not_in_the_encoding_are_named_by_line(tmp_path, compress):
    """'can't decode byte 0xe9 in position 54603': a position in a buffer pandas read."""
    path = tmp_path / "r.csv"
    text = ("user,item,r\r\n\r\n" + "".join(f"u{i},{i},3\r\n" for i in range(5000))
            + "Jos\u00e9,1,3\r\n")
    path.write_bytes(compress(text.encode("latin-1")))
    with pytest.raises(ValueError, match=r"with sep=',': line 5003: invalid continuation byte "
                                         r"\(0xe9\); it is not utf-8 text: pass encoding="):
        read_ratings(path, user="user", item="item", rating="r")
    assert read_ratings(path, user="user", item="item", rating="r", encoding="latin-1").nnz == 5001
