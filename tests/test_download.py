"""fetch_movielens / load_movielens(download=True) without a network: local zips and file:// URLs."""

import hashlib
import io
import os
import urllib.error
import zipfile

import pytest

from sparseals.datasets import download, fetch_movielens, load_movielens, load_movielens_titles

U_DATA = "1\t10\t4\t881250949\n1\t20\t5\t881250950\n2\t10\t3\t881250951\n"
U_ITEM = "10|Toy Story (1995)|01-Jan-1995||http://x|0\n20|GoldenEye (1995)|01-Jan-1995||x|0\n"


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path):
    return make_zip(tmp_path / "ml-100k.zip", {"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM})


def test_checksum_match_extracts_and_loads(tmp_path, archive):
    zip_path, sha = archive
    cache = tmp_path / "cache"
    folder = fetch_movielens("ml-100k", cache, url=zip_path.as_uri(), sha256=sha)
    assert folder == os.path.join(cache, "ml-100k")
    assert sorted(os.listdir(cache)) == ["ml-100k"]  # no temporary files left
    ratings = load_movielens(folder)
    assert ratings.nnz == 3 and ratings.item_ids.tolist() == [10, 20]
    assert load_movielens_titles(folder)[20] == "GoldenEye (1995)"


def test_known_name_uses_the_published_url_and_checksum(tmp_path, archive, monkeypatch):
    zip_path, sha = archive
    requested = []

    def opener(url, timeout):
        requested.append(url)
        return io.BytesIO(zip_path.read_bytes())

    monkeypatch.setattr(download, "_urlopen", opener)
    monkeypatch.setitem(download.MOVIELENS_ARCHIVES, "ml-100k",
                        (download.MOVIELENS_ARCHIVES["ml-100k"][0], sha))
    ratings = load_movielens("ml-100k", download=True, cache_dir=tmp_path / "cache")
    assert ratings.nnz == 3
    assert requested == ["https://files.grouplens.org/datasets/movielens/ml-100k.zip"]


def test_published_checksums_are_the_documented_ones():
    assert download.MOVIELENS_ARCHIVES["ml-100k"][1] == (
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229")
    assert download.MOVIELENS_ARCHIVES["ml-latest-small"][1] == (
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436")


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, archive):
    zip_path, _ = archive
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"has SHA-256 [0-9a-f]{64}, expected 0{64}: the file is "
                                         r"damaged .* it was deleted"):
        fetch_movielens("ml-100k", cache, url=zip_path.as_uri(), sha256="0" * 64)
    assert os.listdir(cache) == []


def test_the_real_archive_checksum_refuses_a_foreign_zip(tmp_path, archive, monkeypatch):
    zip_path, _ = archive
    monkeypatch.setattr(download, "_urlopen", lambda url, timeout: io.BytesIO(zip_path.read_bytes()))
    with pytest.raises(ValueError, match="expected 50d2a982"):
        fetch_movielens("ml-100k", tmp_path / "cache")
    assert os.listdir(tmp_path / "cache") == []


def test_cached_data_is_not_downloaded_again(tmp_path, archive, monkeypatch):
    zip_path, sha = archive
    cache = tmp_path / "cache"
    first = fetch_movielens("ml-100k", cache, url=zip_path.as_uri(), sha256=sha)

    def no_network(url, timeout):
        raise AssertionError("downloaded although cached")

    monkeypatch.setattr(download, "_urlopen", no_network)
    assert fetch_movielens("ml-100k", cache) == first
    assert load_movielens("ml-100k", download=True, cache_dir=cache).nnz == 3


def test_network_failure_is_an_os_error_and_leaves_nothing(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download, "_urlopen", offline)
    with pytest.raises(OSError, match=r"could not download https://files.grouplens.org/.*"
                                      r"ml-latest-small.zip: no route to host"):
        fetch_movielens("ml-latest-small", tmp_path / "cache")
    assert os.listdir(tmp_path / "cache") == []


def test_archive_without_top_folder_and_custom_name(tmp_path):
    zip_path, sha = make_zip(tmp_path / "flat.zip", {"u.data": U_DATA})
    folder = fetch_movielens("my-copy", tmp_path / "cache", url=zip_path.as_uri(), sha256=sha)
    assert os.listdir(folder) == ["u.data"]


def test_unsafe_or_broken_archives_are_refused(tmp_path):
    zip_path, sha = make_zip(tmp_path / "evil.zip", {"../escape.txt": "x"})
    with pytest.raises(ValueError, match=r"holds an unsafe path '../escape.txt'"):
        fetch_movielens("evil", tmp_path / "cache", url=zip_path.as_uri(), sha256=sha)
    assert os.listdir(tmp_path / "cache") == []
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip at all")
    sha = hashlib.sha256(broken.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="is not a valid zip archive"):
        fetch_movielens("broken", tmp_path / "cache", url=broken.as_uri(), sha256=sha)
    assert os.listdir(tmp_path / "cache") == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="ml-1b"), r"unknown MovieLens archive 'ml-1b'; choose one of \['ml-100k', "
                         r"'ml-latest-small'\] or give both url= and sha256="),
    (dict(name="../x"), r"name must be a data set name such as 'ml-100k'; got '../x'"),
    (dict(name="ml-100k", sha256="abc"), r"sha256 must be 64 hexadecimal digits; got 'abc'"),
])
def test_argument_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fetch_movielens(cache_dir=tmp_path, **kwargs)


def test_cache_dir_without_download_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="cache_dir applies with download=True only"):
        load_movielens(tmp_path, cache_dir=tmp_path)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSEALS_DATA_HOME", str(tmp_path / "data"))
    assert download.default_cache_dir() == str(tmp_path / "data")
    monkeypatch.delenv("SPARSEALS_DATA_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.default_cache_dir() == os.path.join(tmp_path, "xdg", "sparseals")
