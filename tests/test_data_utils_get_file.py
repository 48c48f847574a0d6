"""get_file, validate_file and archive extraction, offline: origins are file:// URLs."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from kgraph.utils import data_utils, downloads, get_file
from kgraph.utils.data_utils import _hash_file, validate_file

PAYLOAD = b"kgraph dataset bytes\n" * 100


def _origin(tmp_path: Path, name: str = "remote.bin", data: bytes = PAYLOAD) -> tuple[Path, str]:
    src = tmp_path / "remote" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(data)
    return src, src.as_uri()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_download_to_the_default_cache_and_reuse(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    src, url = _origin(tmp_path)
    path = get_file("data.bin", url)
    assert path == str(tmp_path / "home" / ".keras" / "datasets" / "data.bin")
    assert Path(path).read_bytes() == PAYLOAD
    assert "Downloading data from " + url in capsys.readouterr().out
    src.unlink()  # cached: the origin is not read again
    assert get_file("data.bin", url) == path
    assert "Downloading" not in capsys.readouterr().out


def test_cache_dir_and_subdir(tmp_path):
    _, url = _origin(tmp_path)
    path = get_file("x.bin", url, cache_dir=str(tmp_path / "cache"), cache_subdir="models")
    assert path == str(tmp_path / "cache" / "models" / "x.bin")
    assert _leftovers(tmp_path / "cache" / "models") == []


def test_hashes():
    here = __file__
    data = Path(here).read_bytes()
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    assert _hash_file(here) == sha and _hash_file(here, "md5") == md5
    assert _hash_file(here, "auto", chunk_size=7) == sha
    assert validate_file(here, sha) and validate_file(here, md5)  # 'auto' by length
    assert validate_file(here, sha.upper(), algorithm="sha256")
    assert not validate_file(here, md5, algorithm="sha256")
    assert not validate_file(here, "0" * 64)
    with pytest.raises(ValueError, match="Unknown hash algorithm: 'sha1'"):
        validate_file(here, sha, algorithm="sha1")


def test_mismatching_cached_file_is_downloaded_again(tmp_path, capsys):
    _, url = _origin(tmp_path)
    cache = str(tmp_path / "cache")
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = Path(get_file("d.bin", url, file_hash=sha, cache_dir=cache))
    path.write_bytes(b"truncated")
    assert get_file("d.bin", url, file_hash=sha, cache_dir=cache) == str(path)
    assert "so we will re-download the data" in capsys.readouterr().out
    assert path.read_bytes() == PAYLOAD
    # the deprecated md5_hash argument
    path.write_bytes(b"stale")
    get_file("d.bin", url, md5_hash=hashlib.md5(PAYLOAD).hexdigest(), cache_dir=cache)
    assert path.read_bytes() == PAYLOAD


def test_download_that_fails_its_hash_is_not_kept(tmp_path):
    _, url = _origin(tmp_path)
    datadir = tmp_path / "cache" / "datasets"
    with pytest.raises(ValueError, match="does not match the expected sha256 hash"):
        get_file("d.bin", url, file_hash="f" * 64, cache_dir=str(tmp_path / "cache"))
    assert list(datadir.iterdir()) == []


def test_failed_or_interrupted_download_leaves_no_file(tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    datadir = tmp_path / "cache" / "datasets"
    missing = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(OSError, match="URL fetch failure on " + missing):
        get_file("d.bin", missing, cache_dir=cache)
    assert list(datadir.iterdir()) == []

    def half_then_interrupt(url, filename, reporthook=None):
        Path(filename).write_bytes(PAYLOAD[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(downloads, "urlretrieve", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        get_file("d.bin", "http://example.invalid/d.bin", cache_dir=cache)
    assert list(datadir.iterdir()) == []
    # an older cached copy stays untouched when its replacement fails
    (datadir / "d.bin").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        get_file("d.bin", "http://example.invalid/d.bin", file_hash="0" * 32, cache_dir=cache)
    assert [p.name for p in datadir.iterdir()] == ["d.bin"]
    assert (datadir / "d.bin").read_bytes() == b"old"


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_extract_tar_and_zip(tmp_path):
    (tmp_path / "remote").mkdir()
    tar = _tar(tmp_path / "remote" / "a.tar.gz", {"pack/x.txt": b"x", "pack/sub/y.txt": b"y"})
    zipped = _zip(tmp_path / "remote" / "b.zip", {"zipped/z.txt": b"z"})
    cache = str(tmp_path / "cache")
    datadir = tmp_path / "cache" / "datasets"

    path = get_file("a.tar.gz", tar.as_uri(), extract=True, cache_dir=cache)
    assert path == str(datadir / "a.tar.gz")
    assert (datadir / "pack" / "sub" / "y.txt").read_bytes() == b"y"
    get_file("b.zip", zipped.as_uri(), extract=True, cache_dir=cache)
    assert (datadir / "zipped" / "z.txt").read_bytes() == b"z"
    # a format that does not match leaves the file packed
    get_file("c.zip", tar.as_uri(), extract=True, archive_format="zip", cache_dir=cache)
    assert (datadir / "c.zip").exists() and not (datadir / "c").exists()
    assert _leftovers(datadir) == []


def test_untar_returns_the_unpacked_folder(tmp_path):
    (tmp_path / "remote").mkdir()
    tar = _tar(tmp_path / "remote" / "set.tar.gz", {"set/train.txt": b"t"})
    path = get_file("set", tar.as_uri(), untar=True, cache_dir=str(tmp_path / "cache"))
    datadir = tmp_path / "cache" / "datasets"
    assert path == str(datadir / "set")
    assert (datadir / "set.tar.gz").exists()
    assert (datadir / "set" / "train.txt").read_bytes() == b"t"


@pytest.mark.parametrize(
    "name, reason",
    [("../evil.txt", "'..' component"), ("ok/../../evil.txt", "'..' component"),
     ("/tmp/kgraph-evil.txt", "absolute path")],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_members_outside_the_folder_are_refused(tmp_path, name, reason, kind):
    (tmp_path / "remote").mkdir()
    members = {"fine.txt": b"ok", name: b"evil"}
    if kind == "tar":
        archive = _tar(tmp_path / "remote" / "bad.tar", members, mode="w")
    else:
        archive = _zip(tmp_path / "remote" / "bad.zip", members)
    cache = tmp_path / "cache"
    with pytest.raises(
        ValueError, match=f"Refusing to extract .*{reason}, which would write outside"
    ):
        get_file(archive.name, archive.as_uri(), extract=True, cache_dir=str(cache))
    datadir = cache / "datasets"
    # nothing was unpacked, inside or outside the cache
    assert sorted(p.name for p in datadir.iterdir()) == [archive.name]
    assert not (cache / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not os.path.exists("/tmp/kgraph-evil.txt")


def test_links_out_of_the_folder_are_refused(tmp_path):
    (tmp_path / "remote").mkdir()
    path = tmp_path / "remote" / "link.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="link target of 'passwd' has an absolute path"):
        get_file("link.tar", path.as_uri(), extract=True, cache_dir=str(tmp_path / "cache"))


def test_data_utils_exports():
    assert data_utils.get_file is get_file and data_utils.validate_file is validate_file
    assert downloads._default_cache_dir() == os.path.join(os.path.expanduser("~"), ".keras")
