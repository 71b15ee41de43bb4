"""Downloading MovieLens archives into a cache folder, verified by SHA-256.

:func:`fetch_movielens` downloads a GroupLens archive once, checks its SHA-256
against the published value before anything is extracted, extracts it into a
temporary folder beside the cache entry and renames that into place, so a cache
entry is either complete and verified or absent. Later calls find it and do not
touch the network.
"""

import hashlib
import os
import shutil
import tempfile
import zipfile

__all__ = ["fetch_movielens", "MOVIELENS_ARCHIVES", "default_cache_dir"]

_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
MOVIELENS_ARCHIVES = {
    # name: (url, sha256 of the zip)
    "ml-100k": (_GROUPLENS + "ml-100k.zip",
                "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-latest-small": (_GROUPLENS + "ml-latest-small.zip",
                        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
}
"""The archives :func:`fetch_movielens` knows: name → (URL, SHA-256 of the zip)."""

_CHUNK = 1 << 20


def _urlopen(url, timeout):
    """The one network call (tests replace it); urllib is imported only when downloading."""
    import urllib.request

    return urllib.request.urlopen(url, timeout=timeout)


def default_cache_dir():
    """``$SPARSEALS_DATA_HOME``, else ``$XDG_CACHE_HOME/sparseals``, else ``~/.cache/sparseals``."""
    if os.environ.get("SPARSEALS_DATA_HOME"):
        return os.environ["SPARSEALS_DATA_HOME"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sparseals")


def fetch_movielens(name="ml-100k", cache_dir=None, *, url=None, sha256=None, timeout=60):
    """Download and unpack a MovieLens archive once; return the folder holding its files.

    Parameters
    ----------
    name : str
        One of ``MOVIELENS_ARCHIVES`` (``'ml-100k'``, ``'ml-latest-small'``), or any
        name when ``url`` and ``sha256`` are both given.
    cache_dir : str or os.PathLike, optional
        Where archives are unpacked (default :func:`default_cache_dir`). The data set
        lands in ``cache_dir/name``; if that folder exists, nothing is downloaded.
    url : str, optional
        Download from here instead (a mirror, or a ``file://`` URL).
    sha256 : str, optional
        Expected SHA-256 of the archive (default: the published one for ``name``).
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    str
        The data set's folder, ready for :func:`~sparseals.datasets.load_movielens`
        and :func:`~sparseals.datasets.load_movielens_titles`.

    Raises
    ------
    ValueError
        Unknown ``name``; or the download's checksum differs from ``sha256`` (nothing
        is kept); or the archive is not a valid zip.
    OSError
        The download failed (no network, server error); nothing is kept.

    Examples
    --------
    >>> from sparseals.datasets import fetch_movielens, load_movielens
    >>> ratings = load_movielens(fetch_movielens("ml-100k"))  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"name must be a data set name such as 'ml-100k'; got {name!r}")
    if name in MOVIELENS_ARCHIVES:
        known_url, known_sha = MOVIELENS_ARCHIVES[name]
        url = known_url if url is None else url
        sha256 = known_sha if sha256 is None else sha256
    elif url is None or sha256 is None:
        raise ValueError(f"unknown MovieLens archive {name!r}; choose one of "
                         f"{sorted(MOVIELENS_ARCHIVES)} or give both url= and sha256=")
    sha256 = _check_sha(sha256)
    cache_dir = os.fspath(default_cache_dir() if cache_dir is None else cache_dir)
    target = os.path.join(cache_dir, name)
    if os.path.isdir(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=cache_dir)
    try:
        archive = os.path.join(work, "archive.zip")
        digest = _download(url, archive, timeout)
        if digest != sha256:
            raise ValueError(f"the download of {name} from {url} has SHA-256 {digest}, expected "
                             f"{sha256}: the file is damaged or not the published one; it was "
                             "deleted (try again, or give url= of another mirror)")
        unpacked = os.path.join(work, "unpacked")
        _extract(archive, unpacked, url)
        entries = os.listdir(unpacked)
        source = unpacked
        if len(entries) == 1 and os.path.isdir(os.path.join(unpacked, entries[0])):
            source = os.path.join(unpacked, entries[0])  # the usual ml-100k/ top folder
        try:
            os.replace(source, target)
        except OSError:
            if not os.path.isdir(target):  # else another process finished first: use theirs
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _check_sha(sha256):
    if not isinstance(sha256, str) or len(sha256) != 64 or any(
            c not in "0123456789abcdef" for c in sha256.lower()):
        raise ValueError(f"sha256 must be 64 hexadecimal digits; got {sha256!r}")
    return sha256.lower()


def _download(url, path, timeout):
    """Stream ``url`` to ``path``; return the SHA-256 of the bytes."""
    digest = hashlib.sha256()
    try:
        with _urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                digest.update(block)
                out.write(block)
    except OSError as error:  # urllib.error.URLError is an OSError
        raise OSError(f"could not download {url}: {getattr(error, 'reason', error)}") from None
    return digest.hexdigest()


def _extract(archive, folder, url):
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                parts = member.replace("\\", "/").split("/")
                if member.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                    raise ValueError(f"the archive from {url} holds an unsafe path {member!r}; "
                                     "it was not extracted")
            zf.extractall(folder)
    except zipfile.BadZipFile as error:
        raise ValueError(f"the download from {url} is not a valid zip archive: {error}") from None
