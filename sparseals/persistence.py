"""Saving and loading fitted models: one ``.npz`` file, no pickle, validated on load.

The format (owned here; the models call :func:`save`, and :func:`load` builds them):

- ``__sparseals__``: UTF-8 JSON as a uint8 array: ``format`` ('sparseals-model'),
  ``format_version``, ``library_version``, ``model`` (class name), ``params``
  (constructor parameters; a callback or a Generator ``random_state`` is stored as
  null) and ``attributes`` (fitted scalars and lists such as ``global_mean_`` and
  ``loss_history_``);
- ``user_factors_``, ``item_factors_`` and every other fitted array attribute
  (``user_biases_``, ``item_biases_``, ``user_ids_``, ``item_ids_``, …) under its
  own name; text ids are stored as fixed-width unicode (no object arrays);
- ``seen_indptr``, ``seen_indices``: the training users × items structure, so a
  loaded model still excludes seen items when recommending.

Files are written atomically (a temporary file in the same folder, then
``os.replace``) and read with ``allow_pickle=False``; any problem with a file
raises :class:`ModelFileError` saying what is wrong. A replaced file's owner, group
and mode pass to the new one, as ``open(path, 'w')`` would keep them; a target that
replacing cannot treat as ``open`` would (write-protected, hard-linked, or owned by
someone this process cannot give the new file to) is refused before any work.
"""

import errno
import json
import numbers
import os
import secrets
import stat

import numpy as np

from . import _validation as v
from ._early_stopping import _VALIDATION_ATTRIBUTES

__all__ = ["save", "load", "read_metadata", "ModelFileError", "FORMAT_VERSION"]

FORMAT = "sparseals-model"
FORMAT_VERSION = 1
_META = "__sparseals__"
_SEEN = ("seen_indptr", "seen_indices")


class ModelFileError(ValueError):
    """A file that is not a readable sparseals model (corrupt, truncated, foreign, too new)."""


def save(model, path):
    """Save a fitted model to ``path`` as one ``.npz`` file (atomically, without pickle).

    Parameters
    ----------
    model : fitted ExplicitALS or ImplicitALS
    path : str or os.PathLike
        Written as given (no suffix is added); an existing file is replaced only
        once the new one is complete, and the new file keeps its owner, group and mode
        (a new one gets 0o666 less the umask); a symlink is followed (its target is
        written), as by ``open``.

    Raises
    ------
    TypeError
        ``path`` is not a file name (an open file, say).
    IsADirectoryError, FileNotFoundError
        ``path`` is a directory, or its directory does not exist (checked before
        anything is written).
    PermissionError
        ``path`` is write-protected (not writable for this process, or without any write
        permission bit, as after ``chmod 444``, even for root), or it belongs to another
        user or group and this process may not give the new file to them (checked
        before anything is written).
    ValueError
        ``path`` is a device, pipe or socket (saving would replace it with a regular
        file); ``path`` has other hard links (the replacing file would not be seen
        through them: remove it first, or save to another name); a text id ends with
        a NUL character (fixed-width unicode would drop it and merge the id with
        another).

    Examples
    --------
    >>> model.save("model.npz")  # doctest: +SKIP
    >>> same = sparseals.load("model.npz")  # doctest: +SKIP
    """
    from ._base import ALSBase

    if not isinstance(model, ALSBase):
        raise TypeError(f"model must be a sparseals model; got {type(model).__name__}")
    model._check_fitted()
    path = _file_name(path)
    check_target(path)
    arrays, attributes = {}, {}
    for name, value in vars(model).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if name not in _ARRAYS + tuple(_ATTRIBUTES):  # a run report (distributed_history_)
            continue
        if isinstance(value, np.ndarray) or hasattr(value, "gather"):  # left on a cluster
            arrays[name] = _storable(np.asarray(value), name)
        elif value is None or isinstance(value, (bool, numbers.Real, str)):
            attributes[name] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, (list, tuple)) and all(isinstance(x, numbers.Real) for x in value):
            attributes[name] = [float(x) for x in value]
    seen = model._seen
    arrays["seen_indptr"] = np.asarray(seen.indptr)
    arrays["seen_indices"] = np.asarray(seen.indices)
    try:  # what load will check: a set_params after fit can break it
        _validate(path, model, arrays, attributes, model._validate_params())
    except ValueError as error:  # ModelFileError included
        raise ValueError(f"cannot save this {type(model).__name__}: load would refuse the "
                         f"file ({error}); its parameters or arrays changed since fit "
                         "(set_params?): refit it or set them back") from None
    from . import __version__

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
            "model": type(model).__name__, "params": _json_params(model),
            "attributes": attributes}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    _atomic_savez(path, arrays)


def load(path):
    """Load a model saved by :func:`save` / ``model.save``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ExplicitALS or ImplicitALS
        Fitted: ``predict``, ``recommend`` (with ``exclude_seen``), ``similar_items``
        and the rest work as on the saved model.

    Raises
    ------
    TypeError
        ``path`` is not a file name (an open file, say).
    FileNotFoundError, IsADirectoryError
        No file at ``path``, or a directory.
    ModelFileError
        The file is truncated or corrupt, carries pickled objects, is not a sparseals
        model, was written by a newer format version, or holds inconsistent arrays.
    """
    return _load(path)[0]


def _load(path):
    """The model saved at ``path`` and the file's header (:func:`read_metadata`), from
    one read of the file; raises as :func:`load`."""
    path = _file_name(path)
    arrays = _read_file(path)
    meta = _meta(path, arrays.pop(_META))
    cls = _model_class(path, meta.get("model"))
    params = meta.get("params")
    if not isinstance(params, dict):
        raise ModelFileError(f"{path}: the stored parameters are not a mapping ({params!r})")
    try:
        model = cls(**params)
        dtype = model._validate_params()
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the stored parameters are invalid for {cls.__name__}: "
                             f"{error}") from None
    attributes = meta.get("attributes")
    if not isinstance(attributes, dict):
        raise ModelFileError(f"{path}: the stored attributes are not a mapping ({attributes!r})")
    _validate(path, model, arrays, attributes, dtype)
    from .ratings import Compressed

    model._seen = Compressed(arrays.pop("seen_indptr"), arrays.pop("seen_indices"), None)
    for name, value in attributes.items():
        setattr(model, name, value)
    for name, value in arrays.items():
        setattr(model, name, value)
    return model, meta


_MODELS = {  # model class: the fitted attributes it must have (an array or a stored value)
    "ExplicitALS": ("loss_history_", "global_mean_", "user_biases_", "item_biases_"),
    "ImplicitALS": ("loss_history_",),
}
_OPTIONAL = ("n_singular_",) + _VALIDATION_ATTRIBUTES  # the last three: all or none
_ARRAYS = ("user_factors_", "item_factors_", "user_ids_", "item_ids_", "user_biases_",
           "item_biases_")
_REAL = (int, float)
_ATTRIBUTES = {  # name: (kinds a stored value may have; a list: each element's kinds)
    "loss_history_": ([_REAL],), "validation_history_": ([_REAL],),
    "global_mean_": (_REAL,), "n_singular_": (int,), "best_iteration_": (int,),
    "validation_metric_": (str,),
    "user_biases_": (type(None),), "item_biases_": (type(None),),  # arrays when biases=True
}
_ID_KINDS = "biufUMm"  # numbers, text, datetime64 and timedelta64: what save stores
_COUNTS = ("n_singular_",)  # never negative (best_iteration_: checked against its history)


def _check_attributes(path, model, attributes, arrays):
    """The stored attributes are those a fitted model of its class has, each well formed."""
    required = _MODELS[type(model).__name__]
    for name, value in attributes.items():
        if name not in required + _OPTIONAL:
            raise ModelFileError(f"{path}: unexpected attribute {name!r} (a fitted "
                                 f"{type(model).__name__} has {sorted(required + _OPTIONAL)})")
        _check_attribute(path, name, value)
    missing = [name for name in required if name not in attributes and name not in arrays]
    if missing:
        raise ModelFileError(f"{path}: the attribute {missing[0]!r} is missing (a fitted "
                             f"{type(model).__name__} has {list(required)})")
    _check_early_stopping(path, attributes)


def _check_early_stopping(path, attributes):
    """A validated fit's record: all three attributes, the best iteration one of the history's."""
    from .metrics import METRICS

    held = [name for name in _VALIDATION_ATTRIBUTES if name in attributes]
    if not held:
        return
    if len(held) < len(_VALIDATION_ATTRIBUTES):
        raise ModelFileError(f"{path}: the early-stopping attributes "
                             f"{list(_VALIDATION_ATTRIBUTES)} come together; the file holds only "
                             f"{held}")
    history, best = attributes["validation_history_"], attributes["best_iteration_"]
    if not 0 <= best < len(history):
        raise ModelFileError(f"{path}: best_iteration_={best} is not an iteration of "
                             f"validation_history_ ({len(history)} values)")
    if attributes["validation_metric_"] not in METRICS:
        raise ModelFileError(f"{path}: validation_metric_={attributes['validation_metric_']!r} "
                             f"is not one of {list(METRICS)}")


def _check_attribute(path, name, value):
    """A stored attribute of its type, and finite."""
    kinds = _ATTRIBUTES[name]
    if isinstance(kinds[0], list):
        ok = isinstance(value, list) and all(
            isinstance(x, kinds[0][0]) and not isinstance(x, bool) for x in value)
        values = value if ok else []
    else:
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        values = [value]
    if not ok:
        raise ModelFileError(f"{path}: the attribute {name} has the wrong type ({value!r})")
    if not all(_finite(x) for x in values if isinstance(x, _REAL)):
        raise ModelFileError(f"{path}: the attribute {name} is not finite ({value!r})")
    if name in _COUNTS and value < 0:
        raise ModelFileError(f"{path}: the attribute {name} is negative ({value!r})")


def _finite(number):
    """Whether ``number`` (a JSON int or float) is a finite float: an int past the float
    range would raise OverflowError when a query or ``info`` computes with it."""
    try:
        return bool(np.isfinite(float(number)))
    except OverflowError:
        return False


def read_metadata(path):
    """The header of a saved model, without building the model.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``format``, ``format_version``, ``library_version``, ``model`` (class name),
        ``params`` and ``attributes`` (fitted scalars and lists such as
        ``loss_history_``), as :func:`save` wrote them.

    Raises
    ------
    TypeError, FileNotFoundError, IsADirectoryError, ModelFileError
        As :func:`load`.
    """
    path = _file_name(path)
    return _meta(path, _read_file(path)[_META])


def _file_name(path):
    """``path`` as a str, or a TypeError naming it: a file object has no name to replace
    atomically, nor (a stream) the random access a zip archive needs."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        opened = hasattr(path, "read") or hasattr(path, "write")
        raise TypeError(f"path must be a file name (str or os.PathLike); got "
                        f"{type(path).__name__}"
                        + (": pass the file's name, not the open file" if opened else ""))
    return os.fsdecode(path)


# ---------------------------------------------------------------------- writing
def _storable(array, name):
    if array.dtype.kind in _ID_KINDS:
        return array
    if array.dtype.kind == "O" and all(isinstance(x, str) for x in array.ravel()):
        nul = next((x for x in array.ravel() if x.endswith("\0")), None)
        if nul is not None:  # fixed-width unicode drops them: 'a\0' would come back as 'a'
            raise ValueError(f"{name} holds the text id {nul!r}, which ends with a NUL character; "
                             "it cannot be saved (the file would merge it with the id without "
                             "the NULs): strip or replace such characters in the ids and refit")
        return array.astype(str)
    first = next((x for x in array.ravel() if not isinstance(x, str)), None)
    what = (f"{type(first).__name__} values (e.g. {first!r})" if array.size
            else f"{array.dtype} values")
    # Python ints past int64 and time-zone-aware times are numbers and dates, but not numpy's
    raise TypeError(f"{name} holds {what}, which cannot "
                    "be saved without pickle (only numpy integer, float, text, datetime64 and "
                    f"timedelta64 ids can): store them as text first, e.g. model.{name} = "
                    f"np.array([str(x) for x in model.{name}])")


def _json_params(model):
    params = {}
    for name, value in model.get_params().items():
        if isinstance(value, np.dtype) or (isinstance(value, type)
                                           and issubclass(value, np.generic)):
            value = np.dtype(value).name  # before the callable test: np.float32 is callable
        elif callable(value) or isinstance(value, (np.random.Generator, np.random.SeedSequence,
                                                   np.random.RandomState)):
            value = None  # not storable as data; the loaded model has the default
        elif isinstance(value, np.generic):
            value = value.item()
        try:
            json.dumps(value)
        except TypeError:
            raise TypeError(f"parameter {name}={value!r} cannot be saved as JSON; set it to a "
                            "number, string or None before saving") from None
        params[name] = value
    return params


def check_target(path):
    """Fail before any work when ``path`` cannot take the file (the atomic write would
    otherwise report its temporary file's name)."""
    if not path:
        raise ValueError("cannot save the model to an empty path; give a file name")
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise IsADirectoryError(f"cannot save the model to {path!r}: it is a directory; give a "
                                f"file name, e.g. {os.path.join(path, 'model.npz')!r}")
    if os.path.exists(path) and not os.path.isfile(path):
        # the atomic replace would put a regular file in place of /dev/null or a pipe
        raise ValueError(f"cannot save the model to {path!r}: it is not a regular file (a "
                         "device, pipe or socket), which saving would replace with one; give "
                         "a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save the model to {path!r}: the directory "
                                f"{directory!r} does not exist")
    existing = _existing(path)
    if existing is not None:
        _check_replaceable(path, existing)
    # a real write: os.access says yes to root for a read-only file system or /sys
    fd, probe = _temporary_file(path)
    os.close(fd)
    try:
        _take_over(probe, existing, path)  # may this process give it the old owner?
    finally:
        os.unlink(probe)


def _existing(path):
    """The status of the file a save to ``path`` replaces (a symlink's target), or None."""
    try:
        return os.stat(path)
    except FileNotFoundError:  # a dangling symlink included: its target is created
        return None


def _check_replaceable(path, existing):
    """Refuse what ``open(path, 'w')`` would refuse, and what an atomic replace would do
    differently from it: a write-protected file, and a file with other hard links (they
    would keep the old model while this name got the new one)."""
    writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    if not existing.st_mode & writable or not os.access(path, os.W_OK):
        # no write bit at all: protected on purpose, which root's os.access ignores
        raise PermissionError(errno.EACCES, f"cannot save the model to {path!r}: the file is "
                              f"write-protected (mode {stat.filemode(existing.st_mode)}); make "
                              "it writable (chmod u+w) or remove it first")
    if existing.st_nlink > 1:
        raise ValueError(f"cannot save the model to {path!r}: the file has "
                         f"{existing.st_nlink} hard links; saving replaces it with a new file "
                         "(atomically), which the other names would not see (they would keep "
                         "the old model): remove it first, or save to another name")


def _take_over(temporary, existing, path):
    """Give ``temporary`` the owner, group and mode of the file it will replace (as
    ``open(path, 'w')`` keeps them), before any data is written to it."""
    if existing is None:
        return
    mine = os.stat(temporary)
    if hasattr(os, "chown") and (mine.st_uid, mine.st_gid) != (existing.st_uid,
                                                               existing.st_gid):
        try:
            os.chown(temporary, existing.st_uid, existing.st_gid)
        except PermissionError:
            raise PermissionError(errno.EPERM, f"cannot save the model to {path!r}: it belongs "
                                  f"to user {existing.st_uid}, group {existing.st_gid}, and "
                                  "saving replaces it with a new file (atomically), which this "
                                  f"process cannot give to them (it would belong to user "
                                  f"{mine.st_uid}, group {mine.st_gid}): remove it first, or "
                                  "save to another name") from None
    os.chmod(temporary, stat.S_IMODE(existing.st_mode))


def _temporary_file(path):
    """A new file beside ``path``, or beside its target when a symlink (for an atomic
    replace); a failure names ``path``.

    Its name is short (``.x1y2z3w4.tmp``), not ``path``'s own lengthened: a legal file
    name near the length limit would make it too long. It is created as ``open(path,
    'w')`` creates a file: mode 0o666 less the umask, applied by the system (reading the
    umask means setting it, a race with other threads)."""
    directory = os.path.dirname(os.path.realpath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        for attempt in range(100):
            name = os.path.join(directory, f".{secrets.token_hex(4)}.tmp")
            try:
                return os.open(name, flags, 0o666), name
            except FileExistsError:
                if attempt == 99:
                    raise
    except OSError as error:
        raise type(error)(error.errno, f"cannot save the model to {path!r}: "
                                       f"{error.strerror or error}") from None


def _atomic_savez(path, arrays):
    """Write ``arrays`` to ``path``; a symlink is followed, as open() does: its target is
    replaced, and the link stays."""
    existing = _existing(path)
    fd, temporary = _temporary_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            _take_over(temporary, existing, path)  # first: a private model is never exposed
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, os.path.realpath(path))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# ---------------------------------------------------------------------- reading
def _read_file(path):
    """Every array of the model file at ``path``, checked to carry the sparseals header."""
    v.existing_file(path, "model file", "give the .npz file")
    arrays = _read(path)
    if _META not in arrays:
        raise ModelFileError(f"{path} is not a sparseals model file: it has no {_META!r} entry "
                             f"(entries: {sorted(arrays)[:10]})")
    return arrays


def _read(path):
    """Every array in the file, read now, with any failure as a :class:`ModelFileError`."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ModelFileError(f"{path} is not a sparseals model file: it is a single .npy "
                             "array, not an .npz archive")
    if magic[:4] != b"PK\x03\x04":
        raise ModelFileError(f"{path} is not a sparseals model file: it is not an .npz (zip) "
                             f"archive (it starts with {magic!r})")
    arrays = {}
    try:
        # our own handle: np.load leaves the one it opens to the garbage collector when
        # the archive is corrupt (a ResourceWarning)
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            for name in npz.files:
                arrays[name] = npz[name]
    except ValueError as error:
        if "pickle" in str(error).lower() or "object arrays" in str(error).lower():
            raise ModelFileError(f"{path} carries pickled Python objects; sparseals never "
                                 "writes them and refuses to load them (allow_pickle=False)"
                                 ) from None
        raise ModelFileError(f"{path} is not a sparseals model file or is corrupt: "
                             f"{error}") from None
    except Exception as error:  # zipfile.BadZipFile, EOFError, zlib.error, OSError, …
        raise ModelFileError(f"{path} is truncated or corrupt (or not a sparseals model): "
                             f"{type(error).__name__}: {error}") from None
    # np.load gives the raw bytes of a member that is not a .npy array
    foreign = next((name for name, value in arrays.items() if not isinstance(value, np.ndarray)),
                   None)
    if foreign is not None:
        raise ModelFileError(f"{path} is not a sparseals model file or is corrupt: its entry "
                             f"{foreign!r} is not a .npy array")
    return arrays


def _meta(path, raw):
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, RecursionError) as error:
        raise ModelFileError(f"{path}: the {_META!r} header is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a sparseals model file: its header names format "
                             f"{meta.get('format') if isinstance(meta, dict) else meta!r}")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} has format version {version}, written by sparseals "
                             f"{meta.get('library_version')}; this sparseals reads up to version "
                             f"{FORMAT_VERSION}: upgrade sparseals to load it")
    return meta


def _model_class(path, name):
    from . import models

    if not (isinstance(name, str) and name in _MODELS):  # not ALSBase, nor any other name
        raise ModelFileError(f"{path}: unknown model class {name!r} (a sparseals model file "
                             f"holds one of {list(_MODELS)})")
    return getattr(models, name)


def _validate(path, model, arrays, attributes, dtype):
    """Shapes, dtypes, finiteness and index ranges of the stored arrays; the attributes."""
    def fail(message):
        raise ModelFileError(f"{path}: {message}")

    for name in ("user_factors_", "item_factors_", "user_ids_", "item_ids_") + _SEEN:
        if name not in arrays:
            fail(f"the array {name!r} is missing")
    unexpected = sorted(set(arrays) - set(_ARRAYS) - set(_SEEN))
    if unexpected:
        fail(f"unexpected array {unexpected[0]!r} (a sparseals model stores "
             f"{sorted(_ARRAYS + _SEEN)})")
    users, items = arrays["user_factors_"], arrays["item_factors_"]
    for name, factors in (("user_factors_", users), ("item_factors_", items)):
        if factors.ndim != 2 or factors.shape[1] != model.factors or len(factors) == 0:
            fail(f"{name} has shape {factors.shape}; expected (n, {model.factors}) with n ≥ 1 "
                 f"for factors={model.factors}")
        if factors.dtype != dtype:
            fail(f"{name} has dtype {factors.dtype}; expected {dtype} (the model's dtype)")
    n_users, n_items = len(users), len(items)
    sizes = {"user": n_users, "item": n_items}
    for name, array in arrays.items():
        side = name.split("_")[0]
        if name.endswith("_biases_") or name.endswith("_ids_"):
            if array.shape != (sizes.get(side, -1),):
                fail(f"{name} has shape {array.shape}; expected ({sizes.get(side)},)")
        if name.endswith("_ids_"):
            if array.dtype.kind not in _ID_KINDS:
                fail(f"{name} has dtype {array.dtype}; ids are stored as numbers, text, "
                     "datetime64 or timedelta64")
            if array.dtype.kind in "mM" and np.isnat(array).any():  # fit refuses missing ids
                fail(f"{name} holds {int(np.isnat(array).sum())} missing ids (NaT)")
            values, counts = np.unique(array, return_counts=True)
            if (counts > 1).any():
                fail(f"{name} holds {counts[counts > 1][0]} copies of the id "
                     f"{values[counts > 1][0]}; ids must be unique")
        if name.endswith("_biases_") and array.dtype != dtype:
            fail(f"{name} has dtype {array.dtype}; expected {dtype}")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            fail(f"{name} holds {int((~np.isfinite(array)).sum())} NaN or infinite values")
    biases = getattr(model, "biases", False) is True
    for name in ("user_biases_", "item_biases_"):
        if biases and name not in arrays:
            fail(f"the model has biases=True but the array {name!r} is missing")
        if not biases and name in arrays:
            fail(f"the model has biases={getattr(model, 'biases', None)!r} but holds {name}")
    indptr, indices = arrays["seen_indptr"], arrays["seen_indices"]
    if indptr.dtype not in (np.int32, np.int64) or indices.dtype != np.int32:
        fail(f"seen_indptr / seen_indices have dtypes {indptr.dtype} / {indices.dtype}; "
             "expected int32 or int64 / int32")
    if indices.ndim != 1:  # the kernels read it as one row of item indices
        fail(f"seen_indices has shape {indices.shape}; expected a 1-D array")
    if (indptr.shape != (n_users + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
            or indptr[-1] != indices.size):
        fail(f"seen_indptr is inconsistent: expected {n_users + 1} non-decreasing offsets from "
             f"0 to len(seen_indices)={indices.size}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        fail(f"seen_indices has item indices outside 0..{n_items - 1}")
    _check_attributes(path, model, attributes, arrays)
    mean, limit = attributes.get("global_mean_", 0), float(v.arithmetic_limit(dtype))
    if abs(mean) > limit:  # fit refuses ratings past it; every score would be inf
        fail(f"global_mean_={mean:.3g} is out of range for {np.dtype(dtype).name} ratings (at "
             f"most {limit:.3g} in magnitude)")
