"""Downloading files into the Keras cache (`get_file`), checking their hashes and
unpacking archives. `kgraph.utils.data_utils` exports these, as Keras 2.0.5's does.

A download goes to a temporary file next to its destination and is renamed into place
only once it is complete (and matches the expected hash), so an interrupted or failed
download never leaves a corrupt file in the cache. Archives are unpacked into a staging
folder first, after every member has been checked to stay inside the target folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import urlretrieve

__all__ = ["get_file", "validate_file"]

_ALGORITHMS = ("auto", "md5", "sha256")


def _default_cache_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".keras")


def _hash_file(fpath: str, algorithm: str = "sha256", chunk_size: int = 65535) -> str:
    """The hex digest of a file, read in chunks.

    Args:
        fpath: the file.
        algorithm: 'sha256', 'md5', or 'auto' (sha256).
        chunk_size: bytes read at a time.
    """
    if algorithm not in _ALGORITHMS:
        raise ValueError(
            f"Unknown hash algorithm: {algorithm!r}; valid choices: {', '.join(_ALGORITHMS)}"
        )
    hasher = hashlib.md5() if algorithm == "md5" else hashlib.sha256()
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _resolve(algorithm: str, file_hash: str) -> str:
    """'auto' means sha256 for a 64-character hash and md5 otherwise."""
    if algorithm == "auto":
        return "sha256" if len(file_hash) == 64 else "md5"
    return algorithm


def validate_file(fpath: str, file_hash: str, algorithm: str = "auto",
                  chunk_size: int = 65535) -> bool:  # fmt: skip
    """Whether a file's sha256 or md5 hash equals `file_hash`.

    Args:
        fpath: the file.
        file_hash: the expected hex digest.
        algorithm: 'sha256', 'md5', or 'auto': sha256 for a 64-character hash, else md5.
        chunk_size: bytes read at a time.

    Returns:
        True when the hashes match (case-insensitively).
    """
    algorithm = _resolve(algorithm, file_hash)
    return _hash_file(fpath, algorithm, chunk_size) == str(file_hash).lower()


def _writable_dir(cache_dir: str) -> str:
    """`cache_dir`, created if needed; a `.keras` folder in the temp dir if it cannot be."""
    base = os.path.expanduser(cache_dir)
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return base


def _download(origin: str, fpath: str, file_hash: str | None, algorithm: str) -> None:
    """Fetches `origin` into `fpath` through a temporary file in the same folder."""
    from kgraph.utils.generic_utils import Progbar

    progbar: list[Progbar] = []

    def report(count: int, block_size: int, total_size: int) -> None:
        if total_size <= 0:
            return
        if not progbar:
            progbar.append(Progbar(total_size))
        done = min(count * block_size, total_size)
        progbar[0].update(done, force=done == total_size)

    fd, tmp = tempfile.mkstemp(
        dir=os.path.dirname(fpath), prefix=f".{os.path.basename(fpath)}.", suffix=".part"
    )
    os.close(fd)
    try:
        try:
            urlretrieve(origin, tmp, report)
        except HTTPError as e:
            raise OSError(f"URL fetch failure on {origin}: {e.code} -- {e.msg}") from e
        except URLError as e:
            raise OSError(f"URL fetch failure on {origin}: {e.errno} -- {e.reason}") from e
        if file_hash is not None and not validate_file(tmp, file_hash, algorithm):
            raise ValueError(
                f"The file downloaded from {origin} does not match the expected {algorithm} "
                f"hash {file_hash}: it is incomplete or corrupted, and was not saved."
            )
        os.replace(tmp, fpath)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def get_file(fname: str, origin: str, untar: bool = False, md5_hash: str | None = None,
             file_hash: str | None = None, cache_subdir: str = "datasets",
             hash_algorithm: str = "auto", extract: bool = False,
             archive_format: str | Sequence[str] | None = "auto",
             cache_dir: str | None = None) -> str:  # fmt: skip
    """Downloads a file from a URL unless it is already in the cache.

    The file is stored at `cache_dir/cache_subdir/fname` (by default
    `~/.keras/datasets/fname`). A cached file whose hash does not match `file_hash` is
    downloaded again; a download whose hash does not match raises and is not kept.

    Args:
        fname: the file's name in the cache.
        origin: its URL (http, https, ftp or file).
        untar: deprecated in favour of `extract`: the download is `fname + '.tar.gz'`,
            unpacked into the cache folder unless `fname` exists there; returns its path.
        md5_hash: deprecated in favour of `file_hash`: an md5 hex digest.
        file_hash: the expected sha256 or md5 hex digest, or None to skip the check.
        cache_subdir: the folder under `cache_dir` (an absolute path is used as is).
        hash_algorithm: 'md5', 'sha256', or 'auto' (by the length of `file_hash`).
        extract: unpack the file (tar, tar.gz, tar.bz2 or zip) into the cache folder.
        archive_format: 'auto' (tar, then zip), 'tar', 'zip', a list of them, or None.
        cache_dir: the cache's root; `~/.keras` by default (a `.keras` folder in the
            temporary directory when that is not writable).

    Returns:
        The path of the downloaded file (of the unpacked folder, with `untar`).

    Raises:
        OSError: the URL could not be fetched.
        ValueError: the download does not match `file_hash`, or an archive member would be
            written outside the cache folder.

    Example:
        ```python
        path = get_file('mnist.npz', 'https://s3.amazonaws.com/img-datasets/mnist.npz',
                        file_hash='8a61469f7ea1b51cbae51d4f78837e45')
        ```
    """
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in _ALGORITHMS:
        raise ValueError(
            f"Unknown hash_algorithm: {hash_algorithm!r}; valid choices: {', '.join(_ALGORITHMS)}"
        )
    if file_hash is not None:
        hash_algorithm = _resolve(hash_algorithm, file_hash)
    datadir = os.path.join(_writable_dir(cache_dir or _default_cache_dir()), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    untar_fpath = os.path.join(datadir, fname)
    fpath = untar_fpath + ".tar.gz" if untar else untar_fpath

    download = not os.path.exists(fpath)
    if (
        not download
        and file_hash is not None
        and not validate_file(fpath, file_hash, hash_algorithm)
    ):
        print(f"A local file was found, but it seems to be incomplete or outdated because the "
              f"{hash_algorithm} file hash does not match the original value of {file_hash} "
              "so we will re-download the data.")  # fmt: skip
        download = True
    if download:
        print("Downloading data from", origin)
        _download(origin, fpath, file_hash, hash_algorithm)

    if untar:
        if not os.path.exists(untar_fpath):
            _extract_archive(fpath, datadir, archive_format="tar")
        return untar_fpath
    if extract:
        _extract_archive(fpath, datadir, archive_format)
    return fpath


def _unsafe(name: str) -> str | None:
    """Why an archive path would land outside the target folder, or None if it is safe."""
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "a '..' component"
    return None


def _check_members(file_path: str, path: str, members: list[tuple[str, str | None]]) -> None:
    """Raises ValueError for the first (name, link target) that would escape `path`."""
    for name, link in members:
        for label, value in (("member", name), ("link target of", link)):
            reason = None if value is None else _unsafe(value)
            if reason:
                raise ValueError(
                    f"Refusing to extract {file_path}: the {label} {name!r} has {reason}, "
                    f"which would write outside {path}."
                )


def _move_tree(src: str, dst: str) -> None:
    """Moves everything under `src` into `dst`, replacing files and merging folders."""
    for root, dirs, files in os.walk(src):
        target = os.path.normpath(os.path.join(dst, os.path.relpath(root, src)))
        os.makedirs(target, exist_ok=True)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in files + links:
            os.replace(os.path.join(root, name), os.path.join(target, name))


def _open_archive(file_path: str, kind: str) -> Any:
    if kind == "tar":
        archive = tarfile.open(file_path)
        members = [
            (m.name, m.linkname if (m.issym() or m.islnk()) else None) for m in archive.getmembers()
        ]
        return archive, members
    archive = zipfile.ZipFile(file_path)
    return archive, [(name, None) for name in archive.namelist()]


def _extract_archive(file_path: str, path: str = ".",
                     archive_format: str | Sequence[str] | None = "auto") -> bool:  # fmt: skip
    """Unpacks a tar or zip archive into `path`, if it is one of `archive_format`.

    Every member is checked first: an absolute path or a '..' component (in a name or a
    link target) raises ValueError before anything is written. The archive is unpacked
    into a staging folder inside `path` and moved into place once complete.

    Returns:
        True if the file was an archive of one of the formats and was unpacked.
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format
    formats = [formats] if isinstance(formats, str) else list(formats)
    is_match = {"tar": tarfile.is_tarfile, "zip": zipfile.is_zipfile}
    for kind in formats:
        if kind not in is_match:
            raise ValueError(f"Unknown archive_format: {kind!r}; valid choices: 'tar', 'zip'")
        if not is_match[kind](file_path):
            continue
        archive, members = _open_archive(file_path, kind)
        with archive:
            _check_members(file_path, path, members)
            os.makedirs(path, exist_ok=True)
            staging = tempfile.mkdtemp(dir=path, prefix=".extract-")
            try:
                if kind == "tar" and hasattr(tarfile, "data_filter"):
                    archive.extractall(staging, filter="data")
                else:
                    archive.extractall(staging)
                _move_tree(staging, path)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return True
    return False
