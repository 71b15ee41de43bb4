"""save / load: round trips, atomic writes, and a clear error for every kind of bad file."""

import copy
import copyreg
import io
import json
import os
import pickle
import re
import stat
import zipfile

import numpy as np
import pytest

import sparseals as sa
from sparseals.datasets import synthetic
from sparseals.persistence import FORMAT_VERSION, ModelFileError


@pytest.fixture(scope="module")
def ratings():
    return synthetic(60, 30, 600, seed=4)


@pytest.fixture(scope="module")
def model(ratings):
    return sa.ExplicitALS(factors=3, biases=True, iterations=3, random_state=0).fit(ratings)


@pytest.fixture
def saved(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def assert_same_behaviour(a, b):
    users = np.arange(len(a.user_factors_))
    np.testing.assert_array_equal(a.predict(users, users % 7), b.predict(users, users % 7))
    for exclude in (True, False):
        for x, y in zip(a.recommend(users, n=5, exclude_seen=exclude),
                        b.recommend(users, n=5, exclude_seen=exclude)):
            np.testing.assert_array_equal(x, y)
    for x, y in zip(a.similar_items([0, 1, 2], n=4), b.similar_items([0, 1, 2], n=4)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("params", [dict(biases=True), dict(biases=False, dtype="float64"),
                                    dict(nonnegative=True, reg_exponent=1.0)])
def test_round_trip(ratings, tmp_path, params):
    model = sa.ExplicitALS(factors=3, iterations=2, random_state=0, **params).fit(ratings)
    model.save(tmp_path / "m.npz")
    loaded = sa.load(tmp_path / "m.npz")
    assert type(loaded) is sa.ExplicitALS and loaded.get_params() == model.get_params()
    for name in ("user_factors_", "item_factors_", "user_ids_", "item_ids_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
        assert getattr(loaded, name).dtype == getattr(model, name).dtype
    assert loaded.loss_history_ == model.loss_history_
    assert loaded.global_mean_ == model.global_mean_
    assert (loaded.user_biases_ is None) == (not model.biases)
    assert_same_behaviour(model, loaded)
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]  # no temporary file left behind


def test_text_ids_and_unstorable_params(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"userId": ["ann", "bob", "ann"], "movieId": [10, 20, 20],
                       "rating": [4.0, 3.0, 5.0]})
    ratings = sa.Ratings.from_dataframe(df)
    model = sa.ExplicitALS(factors=1, iterations=1, callback=lambda i, loss: None,
                           random_state=np.random.default_rng(0)).fit(ratings)
    model.save(tmp_path / "m.npz")
    loaded = sa.load(tmp_path / "m.npz")
    assert loaded.user_ids_.tolist() == ["ann", "bob"]
    assert loaded.callback is None and loaded.random_state is None


def test_text_ids_ending_with_nul_are_refused(tmp_path):
    """'a', 'a\\0' and 'a\\0\\0' were saved as fixed-width unicode, which drops trailing
    NULs: they came back as three users called 'a'."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"userId": ["a", "a\0", "a\0\0"], "movieId": [1, 2, 3],
                       "rating": [4.0, 3.0, 5.0]})
    model = sa.ExplicitALS(factors=1, iterations=1).fit(sa.Ratings.from_dataframe(df))
    assert model.user_ids_.tolist() == ["a", "a\0", "a\0\0"]
    with pytest.raises(ValueError, match=r"user_ids_ holds the text id 'a\\x00', which ends "
                                         r"with a NUL character; it cannot be saved"):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_datetime_ids_round_trip_and_unstorable_ids_are_named(tmp_path):
    pd = pytest.importorskip("pandas")
    days = pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-03"])
    df = pd.DataFrame({"userId": days, "movieId": pd.to_timedelta([1, 2, 2], unit="h"),
                       "rating": [4.0, 3.0, 5.0]})
    model = sa.ExplicitALS(factors=1, iterations=1, random_state=0).fit(
        sa.Ratings.from_dataframe(df))
    model.save(tmp_path / "m.npz")  # was a TypeError: datetime64 needs no pickle
    loaded = sa.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.user_ids_, model.user_ids_)
    np.testing.assert_array_equal(loaded.item_ids_, model.item_ids_)
    assert loaded.user_ids_.dtype.kind == "M" and loaded.item_ids_.dtype.kind == "m"
    # the message said 'values that are not text or numbers ... (use integer, string or
    # datetime ids)' for ints past int64 and time-zone-aware datetimes too
    for ids, shown in [([(1, 2), (3, 4), (1, 2)], r"tuple values \(e.g. \(1, 2\)\)"),
                       ([2 ** 70, 3, 2 ** 70], r"int values \(e.g. 3\)"),
                       (pd.to_datetime([1, 2, 1], unit="D").tz_localize("UTC"),
                        r"Timestamp values \(e.g. Timestamp\('1970-01-02 00:00:00\+0000'")]:
        odd = df.assign(userId=pd.Series(ids, dtype=object))
        model = sa.ExplicitALS(factors=1, iterations=1).fit(sa.Ratings.from_dataframe(odd))
        with pytest.raises(TypeError, match=r"user_ids_ holds " + shown + r".*, which cannot be "
                                            r"saved without pickle .*: store them as text first, "
                                            r"e.g. model.user_ids_ = np.array\(\[str\(x\) for x "
                                            r"in model.user_ids_\]\)"):
            model.save(tmp_path / "odd.npz")
        model.user_ids_ = np.array([str(x) for x in model.user_ids_])  # as advised
        model.save(tmp_path / "odd.npz")
    # an object column of Python ints is stored as int64 ids: it saves
    ints = df.assign(userId=pd.Series([7, 2, 7], dtype=object))
    model = sa.ExplicitALS(factors=1, iterations=1).fit(sa.Ratings.from_dataframe(ints))
    model.save(tmp_path / "ints.npz")
    assert sa.load(tmp_path / "ints.npz").user_ids_.tolist() == [2, 7]


def test_overwrite_is_atomic(model, saved, monkeypatch):
    before = saved.read_bytes()
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        model.save(saved)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["model.npz"]


def test_a_long_file_name(model, tmp_path):
    """The temporary file was named after the model file plus ~14 characters: a legal name
    within 14 characters of the limit (255 on most file systems) failed with 'File name
    too long'."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("m" * (limit - 4) + ".npz")
    model.save(path)
    assert os.listdir(tmp_path) == [path.name]
    assert_same_behaviour(model, sa.load(path))


@pytest.mark.parametrize("umask", [0o077, 0o022, 0o002], ids=oct)
def test_the_file_mode_follows_the_umask(model, tmp_path, umask):
    """save made every file 0o644: with umask 077 other users could read the model."""
    path = tmp_path / "m.npz"
    previous = os.umask(umask)
    try:
        model.save(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode(model, saved, monkeypatch):
    """As open(path, 'w'): a model file made private stays private when saved over, and
    its new content is never readable under a wider mode (save wrote the temporary file
    with 0o666 less the umask, and narrowed it only once it was complete)."""
    saved.chmod(0o600)
    modes, real_savez = [], np.savez

    def savez(file, **arrays):
        modes.append(stat.S_IMODE(os.fstat(file.fileno()).st_mode))
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez)
    model.save(saved)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert modes == [0o600]


def unchanged(path):
    """A check that ``path`` still holds what it holds now, alone in its folder."""
    before, listing = path.read_bytes(), sorted(os.listdir(path.parent))
    status = path.stat()

    def check():
        assert path.read_bytes() == before and sorted(os.listdir(path.parent)) == listing
        now = path.stat()
        assert (now.st_ino, now.st_mode, now.st_uid, now.st_gid) == (
            status.st_ino, status.st_mode, status.st_uid, status.st_gid)
    return check


def refused(model, path, error, match):
    """Both ways in (check_target, as ``sparseals fit -o`` calls it first, and save)
    refuse ``path`` with ``error``, and leave it as it was."""
    from sparseals.persistence import check_target

    check = unchanged(path)
    for call in (lambda: check_target(str(path)), lambda: model.save(path)):
        with pytest.raises(error, match=match):
            call()
        check()


def test_a_write_protected_file_is_refused(model, saved, tmp_path):
    """save replaced a chmod 444 file (os.replace ignores the target's mode), where
    open(path, 'w') refuses it; a write-protected file is refused even for root, who
    may write anything, and so is one through a symlink."""
    saved.chmod(0o444)
    (tmp_path / "link.npz").symlink_to(saved)
    for path in (saved, tmp_path / "link.npz"):
        refused(model, path, PermissionError,
                r"cannot save the model to '.*(model|link)\.npz': the file is write-protected "
                r"\(mode -r--r--r--\); make it writable \(chmod u\+w\) or remove it first")


def test_a_file_this_process_may_not_write_is_refused(model, saved, monkeypatch):
    """Write bits that are another user's (or an ACL's) count as write-protected; tests
    may run as root, for whom os.access says yes, so it answers no here."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: (
        False if os.fspath(path) == str(saved) and mode & os.W_OK
        else real_access(path, mode, **kwargs)))
    refused(model, saved, PermissionError, r"the file is write-protected \(mode -rw-")


def test_a_hard_linked_file_is_refused(model, saved, tmp_path):
    """save replaced the name it was given with a new file: the other hard links kept
    the old model, unlike open(path, 'w'). Writing in place would not be atomic, so such
    a file is refused, and the error says how to replace this name alone."""
    other = tmp_path / "other.npz"
    os.link(saved, other)
    refused(model, saved, ValueError, r"cannot save the model to '.*model\.npz': the file "
                                      r"has 2 hard links; .* remove it first, or save to "
                                      r"another name")
    assert os.path.samefile(saved, other)
    saved.unlink()  # as advised
    model.save(saved)
    assert_same_behaviour(model, sa.load(saved))


needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="only root can make a file another user's")


@needs_root
def test_a_replaced_file_keeps_its_owner_and_group(model, saved):
    """As open(path, 'w'): root saving over a user's model left it root's (with the
    user's mode 0o600 copied, the user could no longer read it)."""
    os.chown(saved, 4321, 8765)
    saved.chmod(0o600)
    model.save(saved)
    status = saved.stat()
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (4321, 8765, 0o600)
    assert_same_behaviour(model, sa.load(saved))


@needs_root
def test_a_file_whose_owner_cannot_be_kept_is_refused(model, saved, monkeypatch):
    """A process that may write another user's file but not give a file away (a
    group-writable file, say) would make the replaced file its own: refused."""
    os.chown(saved, 4321, 8765)

    def not_permitted(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chown", not_permitted)
    refused(model, saved, PermissionError, r"cannot save the model to '.*model\.npz': it "
                                           r"belongs to user 4321, group 8765, .* remove it "
                                           r"first, or save to another name")


@pytest.mark.parametrize("existing", [True, False])
def test_a_symlink_is_followed(model, tmp_path, existing):
    """As open(path, 'w'): the link's target is written and the link stays (save replaced
    the link with a regular file, leaving the target as it was)."""
    (tmp_path / "models").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "models" / "m.npz"
    link = tmp_path / "links" / "current.npz"
    link.symlink_to(target)
    if existing:
        target.write_bytes(b"an older model")
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_same_behaviour(model, sa.load(target))
    assert os.listdir(tmp_path / "models") == ["m.npz"]  # the temporary file was beside it
    assert os.listdir(tmp_path / "links") == ["current.npz"]


def test_save_needs_a_fitted_model(tmp_path):
    with pytest.raises(ValueError, match="not fitted yet; call fit first"):
        sa.ExplicitALS().save(tmp_path / "m.npz")


def test_save_to_a_directory_or_a_missing_directory(model, tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory; give a file name, e.g. .*model.npz"):
        model.save(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        model.save(str(tmp_path / "new") + os.sep)
    with pytest.raises(FileNotFoundError, match="the directory .*missing.* does not exist"):
        model.save(tmp_path / "missing" / "m.npz")
    with pytest.raises(ValueError, match="an empty path"):
        model.save("")
    assert os.listdir(tmp_path) == []  # no temporary file left behind


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_or_device_is_not_replaced(model, tmp_path):
    """The atomic replace put a regular file in place of a named pipe (and, as root, of
    /dev/null: ``sparseals fit ... -o /dev/null``), directly or through a symlink."""
    from sparseals.persistence import check_target

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    (tmp_path / "link.npz").symlink_to(pipe)
    for target in (pipe, tmp_path / "link.npz"):
        for call in (lambda: check_target(str(target)), lambda: model.save(target)):
            with pytest.raises(ValueError, match=r"cannot save the model to '.*': it is not a "
                                                 r"regular file \(a device, pipe or socket\)"):
                call()
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "pipe"]


def test_an_unwritable_place_is_named_before_anything_is_written(model, monkeypatch, tmp_path):
    """The error named the atomic write's temporary file (``.m.npz.x1y2.tmp``); a root
    process cannot find out by os.access, so check_target tries a real file."""
    from sparseals.persistence import check_target

    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    for call in (lambda: check_target(str(tmp_path / "m.npz")),
                 lambda: model.save(tmp_path / "m.npz")):
        with pytest.raises(PermissionError, match=r"cannot save the model to '.*/m\.npz': "
                                                  r"Permission denied"):
            call()


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file .* does not exist"):
        sa.load(tmp_path / "nothing.npz")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_load_a_pipe(tmp_path):
    """A named pipe was reported as a file that 'does not exist'."""
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match=r"model file '.*pipe' is not a regular file \(a "
                                         r"pipe or a device\?\)"):
        sa.load(tmp_path / "pipe")


def test_a_path_that_is_not_a_file_name(model, saved, tmp_path):
    """An open file raised os.fspath's 'expected str, bytes or os.PathLike object, not
    BufferedReader', which named neither the argument nor the fix."""
    from sparseals.persistence import read_metadata

    message = r"path must be a file name \(str or os.PathLike\); got "
    with open(saved, "rb") as f:
        for call in (sa.load, read_metadata):
            with pytest.raises(TypeError, match=message + "BufferedReader: pass the file's name"):
                call(f)
    with pytest.raises(TypeError, match=message + "BytesIO: pass the file's name"):
        model.save(io.BytesIO())
    with pytest.raises(TypeError, match=message + "NoneType$"):
        sa.load(None)
    model.save(os.fsencode(tmp_path / "bytes.npz"))  # bytes, as open() takes them
    assert_same_behaviour(model, sa.load(os.fsencode(tmp_path / "bytes.npz")))


def rewrite(path, change):
    """Rewrite a saved model with ``change(arrays, meta)`` applied."""
    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(arrays["__sparseals__"].tobytes())
    change(arrays, meta)
    arrays["__sparseals__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="is truncated or corrupt"):
        sa.load(saved)


def test_bit_flip_in_the_factors(saved):
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("item_factors_.npy")
    data = bytearray(saved.read_bytes())
    # the member's data follows its 30-byte local header, name and extra field
    name_length = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    position = info.header_offset + 30 + name_length + extra_length + info.file_size - 5
    data[position] ^= 0x10
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="truncated or corrupt.*CRC"):
        sa.load(saved)


def test_newer_format_version(saved):
    rewrite(saved, lambda arrays, meta: meta.update(format_version=FORMAT_VERSION + 1,
                                                    library_version="9.0"))
    with pytest.raises(ModelFileError, match=rf"format version {FORMAT_VERSION + 1}, written by "
                                             r"sparseals 9.0.*upgrade sparseals"):
        sa.load(saved)


def test_not_a_sparseals_file(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(ModelFileError, match=r"not a sparseals model file: it has no "
                                             r"'__sparseals__' entry \(entries: \['weights'\]\)"):
        sa.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match=r"not an .npz \(zip\) archive \(it starts with "
                                             r"b'hello'\)"):
        sa.load(tmp_path / "text.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(ModelFileError, match="single .npy array"):
        sa.load(tmp_path / "array.npy")


def test_a_member_that_is_not_an_array(saved, capsys):
    """np.load gives such a member's raw bytes: load and `sparseals info` raised
    AttributeError ('bytes' object has no attribute 'ndim')."""
    from sparseals.cli import main

    with zipfile.ZipFile(saved) as z:
        members = {name: z.read(name) for name in z.namelist()}
    members["user_factors_.npy"] = b"not an array"
    with zipfile.ZipFile(saved, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    message = r"is not a sparseals model file or is corrupt: its entry 'user_factors_' is not a"
    with pytest.raises(ModelFileError, match=message + r" \.npy array"):
        sa.load(saved)
    assert main(["info", str(saved)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_pickle_carrying_file(saved):
    rewrite(saved, lambda arrays, meta: arrays.update(
        user_ids_=np.array([object()] * len(arrays["user_ids_"]), dtype=object)))
    with pytest.raises(ModelFileError, match="carries pickled Python objects.*allow_pickle=False"):
        sa.load(saved)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.update(format="something-else"), "names format 'something-else'"),
    (lambda a, m: m.update(model="RandomForest"), "unknown model class 'RandomForest'"),
    # the abstract base class: was an AttributeError ('_validate_params')
    (lambda a, m: m.update(model="ALSBase", params={}), r"unknown model class 'ALSBase' \(a "
                                                        r"sparseals model file holds one of"),
    (lambda a, m: m.update(model=["ExplicitALS"]), r"unknown model class \['ExplicitALS'\]"),
    (lambda a, m: m["params"].update(factors=-1), "stored parameters are invalid for "
                                                  "ExplicitALS: factors must be a positive"),
    (lambda a, m: m["params"].update(colour="red"), "stored parameters are invalid"),
    (lambda a, m: m["params"].update(dtype=["x"]), "stored parameters are invalid for "
                                                   "ExplicitALS: dtype must be 'float32' or"),
    (lambda a, m: a.pop("item_factors_"), "the array 'item_factors_' is missing"),
    (lambda a, m: a.pop("user_biases_"), "biases=True but the array 'user_biases_' is missing"),
    (lambda a, m: a.update(user_factors_=a["user_factors_"][:, :2]),
     r"user_factors_ has shape \(60, 2\); expected \(n, 3\)"),
    (lambda a, m: a.update(item_factors_=a["item_factors_"].astype(np.float64)),
     "item_factors_ has dtype float64; expected float32"),
    (lambda a, m: a.update(item_biases_=a["item_biases_"][:-1]),
     r"item_biases_ has shape \(29,\); expected \(30,\)"),
    (lambda a, m: a["user_factors_"].__setitem__((0, 0), np.nan),
     "user_factors_ holds 1 NaN or infinite values"),
    (lambda a, m: m["attributes"].update(global_mean_=float("inf")),
     "the attribute global_mean_ is not finite"),
    (lambda a, m: a.update(seen_indptr=a["seen_indptr"][::-1].copy()),
     "seen_indptr is inconsistent"),
    (lambda a, m: a["seen_indices"].__setitem__(0, 99), r"seen_indices has item indices outside"),
    (lambda a, m: a.update(user_ids_=a["user_ids_"][:3]), r"user_ids_ has shape \(3,\)"),
    (lambda a, m: a["item_ids_"].__setitem__(slice(3, 5), a["item_ids_"][2]),
     "item_ids_ holds 3 copies of the id 2; ids must be unique"),
    (lambda a, m: a.update(user_ids_=np.array(["u"] * 59 + ["v"])),
     "user_ids_ holds 59 copies of the id u;"),
    # a file that loaded before and broke later: a missing id map, an array that replaced a
    # method, attributes of the wrong type
    (lambda a, m: a.pop("user_ids_"), "the array 'user_ids_' is missing"),
    (lambda a, m: a.update(predict=np.zeros(3)), "unexpected array 'predict'"),
    (lambda a, m: m["attributes"].update(fit=1), "unexpected attribute 'fit'"),
    (lambda a, m: m["attributes"].update(loss_history_="abc"),
     "the attribute loss_history_ has the wrong type"),
    (lambda a, m: m["attributes"].update(global_mean_="abc"),
     "the attribute global_mean_ has the wrong type"),
    (lambda a, m: m["attributes"].update(n_singular_=True),
     "the attribute n_singular_ has the wrong type"),
    # each loaded: the kernels got a 2-D seen_indices (partial_fit_users raised a numpy
    # TypeError); ints past the float range raised OverflowError in predict / `info`; a count
    # below zero; a model without users that no fit makes (partial fits failed oddly)
    (lambda a, m: a.update(seen_indices=a["seen_indices"][:, None]),
     r"seen_indices has shape \(\d+, 1\); expected a 1-D array"),
    (lambda a, m: m["attributes"].update(global_mean_=10 ** 400),
     "the attribute global_mean_ is not finite"),
    (lambda a, m: m["attributes"].update(loss_history_=[1.0, 10 ** 400]),
     "the attribute loss_history_ is not finite"),
    # ids save never writes (and refuses to write back: the loaded model could not be saved)
    (lambda a, m: a.update(user_ids_=a["user_ids_"].astype("S4")),
     r"user_ids_ has dtype \|S4; ids are stored as numbers, text, datetime64 or timedelta64"),
    (lambda a, m: a.update(user_ids_=a["user_ids_"] + 1j), r"user_ids_ has dtype complex128"),
    (lambda a, m: a.update(user_ids_=np.where(np.arange(60) == 0, np.datetime64("NaT"),
                                              np.arange(60).astype("M8[D]"))),
     r"user_ids_ holds 1 missing ids \(NaT\)"),
    (lambda a, m: m["attributes"].update(global_mean_=-1e300),  # predict gave -inf
     r"global_mean_=-1e\+300 is out of range for float32 ratings \(at most 1.84e\+15"),
    (lambda a, m: m["attributes"].update(n_singular_=-3),
     r"the attribute n_singular_ is negative \(-3\)"),
    (lambda a, m: a.update(user_factors_=a["user_factors_"][:0], user_ids_=a["user_ids_"][:0],
                           user_biases_=a["user_biases_"][:0],
                           seen_indptr=np.zeros(1, dtype=np.int64),
                           seen_indices=np.zeros(0, dtype=np.int32)),
     r"user_factors_ has shape \(0, 3\); expected \(n, 3\) with n ≥ 1"),
])
def test_inconsistent_contents(saved, change, message):
    rewrite(saved, change)
    with pytest.raises(ModelFileError, match=message):
        sa.load(saved)


@pytest.mark.parametrize("kind, biases, name", [
    (sa.ExplicitALS, True, "global_mean_"), (sa.ExplicitALS, True, "loss_history_"),
    (sa.ExplicitALS, False, "user_biases_"), (sa.ExplicitALS, False, "item_biases_"),
    (sa.ImplicitALS, None, "loss_history_"),
])
def test_a_missing_fitted_attribute(ratings, tmp_path, kind, biases, name):
    """Such a file loaded, and predict, recommend, fold_in or a warm fit raised AttributeError."""
    params = {} if biases is None else dict(biases=biases)
    path = tmp_path / "m.npz"
    kind(factors=2, iterations=1, random_state=0, **params).fit(ratings).save(path)
    rewrite(path, lambda a, m: m["attributes"].pop(name))
    with pytest.raises(ModelFileError, match=rf"the attribute '{name}' is missing \(a fitted "
                                             rf"{kind.__name__} has \["):
        sa.load(path)


def test_attributes_are_those_of_the_model_class(ratings, tmp_path):
    path = tmp_path / "m.npz"
    model = sa.ImplicitALS(factors=2, iterations=1, random_state=0).fit(ratings)
    model.save(path)
    rewrite(path, lambda a, m: m["attributes"].update(global_mean_=3.5))
    with pytest.raises(ModelFileError, match="unexpected attribute 'global_mean_' \\(a fitted "
                                             "ImplicitALS has"):
        sa.load(path)
    rewrite(path, lambda a, m: m.pop("attributes"))
    with pytest.raises(ModelFileError, match="the stored attributes are not a mapping \\(None"):
        sa.load(path)
    # save checks what load will: a model that lost an attribute is not written
    del model.loss_history_
    with pytest.raises(ValueError, match="cannot save this ImplicitALS: load would refuse the "
                                         "file .*the attribute 'loss_history_' is missing"):
        model.save(path)


def test_a_run_report_attribute_is_not_saved(model, tmp_path):
    """A distributed fit's ``distributed_history_`` (a list, empty when the cluster went
    away) was written as an attribute that load then refused as unexpected."""
    model.distributed_history_ = []
    try:
        model.save(tmp_path / "m.npz")
    finally:
        del model.distributed_history_
    assert not hasattr(sa.load(tmp_path / "m.npz"), "distributed_history_")


@pytest.fixture(scope="module")
def stopped(ratings):
    """A model fitted with early stopping."""
    from sparseals.model_selection import train_test_split

    train, held = train_test_split(ratings, random_state=0)
    return sa.ExplicitALS(factors=3, iterations=4, random_state=0).fit(train, validation=held,
                                                                       patience=1)


def test_early_stopping_round_trip_and_info(stopped, tmp_path, capsys):
    from sparseals.cli import main

    stopped.save(tmp_path / "m.npz")
    loaded = sa.load(tmp_path / "m.npz")
    for name in ("validation_history_", "validation_metric_", "best_iteration_"):
        assert getattr(loaded, name) == getattr(stopped, name)
    assert main(["info", str(tmp_path / "m.npz")]) == 0
    assert re.search(r"early stopping +held-out rmse [\d.]+ at iteration "
                     rf"{stopped.best_iteration_ + 1} of {len(stopped.validation_history_)}",
                     capsys.readouterr().out)


@pytest.mark.parametrize("change, message", [
    # each loaded, then `sparseals info` failed with a traceback
    (lambda m: m.update(best_iteration_=len(m["validation_history_"])),  # IndexError
     r"best_iteration_=\d+ is not an iteration of validation_history_ \(\d+ values\)"),
    (lambda m: m.update(best_iteration_=-1), "best_iteration_=-1 is not an iteration"),
    (lambda m: m.update(validation_history_=[]), r"is not an iteration of validation_history_ "
                                                 r"\(0 values\)"),
    (lambda m: m.pop("validation_metric_"), r"the early-stopping attributes \['validation_history_"
                                            r"', 'validation_metric_', 'best_iteration_'\] come "
                                            r"together; the file holds only \['validation_history_"
                                            r"', 'best_iteration_'\]"),  # AttributeError
    (lambda m: m.pop("best_iteration_"), "early-stopping attributes .* come together"),
    (lambda m: m.pop("validation_history_"), "early-stopping attributes .* come together"),
    (lambda m: m.update(best_iteration_=None),  # TypeError
     r"the attribute best_iteration_ has the wrong type \(None\)"),
    (lambda m: m.update(best_iteration_=1.0), "the attribute best_iteration_ has the wrong type"),
    (lambda m: m.update(validation_metric_="accuracy"),
     r"validation_metric_='accuracy' is not one of \['rmse'"),
])
def test_inconsistent_early_stopping_attributes(stopped, tmp_path, capsys, change, message):
    from sparseals.cli import main

    path = tmp_path / "m.npz"
    stopped.save(path)
    rewrite(path, lambda arrays, meta: change(meta["attributes"]))
    with pytest.raises(ModelFileError, match=message):
        sa.load(path)
    assert main(["info", str(path)]) == 2  # an error message, not a traceback
    error = capsys.readouterr().err
    assert error.startswith("sparseals info: error: ") and re.search(message, error)


@pytest.mark.parametrize("header", [b"{not json",
                                    # was a RecursionError out of json.loads
                                    b'{"format": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
                         ids=["not-json", "nested-too-deeply"])
def test_broken_header(saved, header):
    with np.load(saved) as npz:
        arrays = dict(npz)
    arrays["__sparseals__"] = np.frombuffer(header, dtype=np.uint8)
    np.savez(saved, **arrays)
    for read in (sa.load, sa.persistence.read_metadata):
        with pytest.raises(ModelFileError, match="header is not valid JSON"):
            read(saved)


def test_implicit_model_round_trip(ratings, tmp_path):
    model = sa.ImplicitALS(factors=3, iterations=2, random_state=0).fit(ratings)
    model.save(tmp_path / "implicit.npz")
    loaded = sa.load(tmp_path / "implicit.npz")
    assert type(loaded) is sa.ImplicitALS and loaded.get_params() == model.get_params()
    assert_same_behaviour(model, loaded)


@pytest.mark.parametrize("change, message", [
    (dict(dtype="float64"), "user_factors_ has dtype float32; expected float64"),
    (dict(factors=5), r"user_factors_ has shape \(60, 3\); expected \(n, 5\)"),
    (dict(biases=False), "the model has biases=False but holds user_biases_"),
    (dict(iterations=0), "iterations must be a positive integer"),
])
def test_save_refuses_parameters_changed_after_fit(ratings, tmp_path, change, message):
    """save wrote such a model, and load refused the file."""
    model = sa.ExplicitALS(factors=3, biases=True, iterations=2, random_state=0).fit(ratings)
    model.set_params(**change)
    with pytest.raises(ValueError, match=r"cannot save this ExplicitALS: load would refuse "
                                         r"the file \(.*" + message):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_scoring_follows_the_fitted_biases_not_a_later_set_params(ratings):
    with_biases = sa.ExplicitALS(factors=3, biases=True, iterations=2, random_state=0).fit(
        ratings)
    expected = with_biases.predict([0, 1], [0, 1])
    assert with_biases.set_params(biases=False).predict([0, 1], [0, 1]).tolist() == \
        expected.tolist()  # the biases were dropped, the mean kept
    plain = sa.ExplicitALS(factors=3, iterations=2, random_state=0).fit(ratings)
    expected = plain.predict([0, 1], [0, 1])
    plain.set_params(biases=True)  # was a TypeError in predict, a numba error in fold_in
    assert plain.predict([0, 1], [0, 1]).tolist() == expected.tolist()
    assert plain.fold_in([1, 2], [3.0, 4.0]).shape == (3,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_dtype_class_and_random_state_parameters_round_trip(ratings, tmp_path, dtype):
    """dtype=np.float32 was stored as null (a numpy type is callable, taken for a
    callback), so load rebuilt a float64 model and refused the file save had written."""
    model = sa.ExplicitALS(factors=2, iterations=1, dtype=dtype,
                           random_state=np.random.RandomState(0)).fit(ratings)
    model.save(tmp_path / "m.npz")
    loaded = sa.load(tmp_path / "m.npz")
    assert loaded.dtype == np.dtype(dtype).name and loaded.random_state is None
    assert loaded.user_factors_.dtype == dtype
    assert_same_behaviour(model, loaded)


class _PickledBeforeSeenWasAProperty:
    """Pickles as a model did when its instance ``__dict__`` held ``_seen``."""

    def __init__(self, model):
        state = dict(vars(model))
        state["_seen"] = state.pop("_seen_state")[0]
        self.reduced = (copyreg._reconstructor, (type(model), object, None), state)

    def __reduce__(self):
        return self.reduced


@pytest.mark.parametrize("cls", [sa.ExplicitALS, sa.ImplicitALS])
def test_a_pickle_holding_seen_in_its_dict_still_excludes_seen_items(ratings, cls):
    """_seen became a property backed by _seen_state: the older pickle's _seen was
    hidden by it, and every query said 'this model holds no seen items: it is not
    fitted'."""
    model = cls(factors=3, iterations=2, random_state=0).fit(ratings)
    old = pickle.loads(pickle.dumps(_PickledBeforeSeenWasAProperty(model)))
    assert type(old) is cls and "_seen" not in vars(old)
    assert_same_behaviour(model, old)
    for name in ("indptr", "indices"):
        np.testing.assert_array_equal(getattr(old._seen, name), getattr(model._seen, name))


@pytest.mark.parametrize("cls", [sa.ExplicitALS, sa.ImplicitALS])
def test_pickle_and_copies_keep_the_fitted_state(ratings, cls):
    model = cls(factors=3, iterations=2, random_state=0).fit(ratings)
    for same in (pickle.loads(pickle.dumps(model)), copy.copy(model), copy.deepcopy(model)):
        assert sorted(vars(same)) == sorted(vars(model))
        assert_same_behaviour(model, same)
