"""Atomic file writes: a crash or a full disk never leaves a half-written file in place of a good one.

A write goes to a hidden temporary file beside the target (``.NAME.XXXXXXXX.tmp``), locked by its writer
while it exists, then is renamed over the target, or, without ``overwrite``, hard-linked to the target's
name, which fails if the name is taken, even by a concurrent writer. The temporary files of writers that were
killed are removed by the next write to the same name: those no live process holds and older than a few
seconds. Errors name the target, never the temporary file.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

from .locks import try_lock

STALE_AFTER = 5.0  # seconds: a temporary file this old that no live writer holds is left from a killed write
_SUFFIX = ".tmp"
_RANDOM = 8  # characters tempfile adds to a name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_temporary(name: str, target: str) -> bool:
    """True when file ``name`` is a temporary file of a write to ``target`` (names in the same directory)."""
    prefix = f".{target}."
    return name.startswith(prefix) and name.endswith(_SUFFIX) and \
        len(name) == len(prefix) + _RANDOM + len(_SUFFIX)


def remove_stale_temporaries(path: str | os.PathLike, older_than: float = STALE_AFTER, *,
                             every_target: bool = False) -> list[Path]:
    """Delete the temporary files of killed writes to ``path`` (with ``every_target``: to any file in the
    directory ``path``) that no live process holds and that are older than ``older_than`` seconds."""
    path = Path(path)
    folder = path if every_target else path.parent
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed, now = [], time.time()
    for name in names:
        target = name[1:-len(_SUFFIX) - _RANDOM - 1] if every_target else path.name
        if not name.startswith(".") or not is_temporary(name, target):
            continue
        tmp = folder / name
        try:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= older_than and try_lock(fd):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _named(e: OSError, path: Path) -> OSError:
    """The same error, naming the target instead of the temporary file."""
    return type(e)(e.errno, e.strerror or str(e), str(path))


def atomic_write(path: str | os.PathLike, blob: bytes, *, overwrite: bool = True) -> Path:
    """Write ``blob`` to ``path`` through a temporary file and a rename: a crash leaves the old file or the new
    one, never a mixture. Without ``overwrite``, FileExistsError when ``path`` exists, checked atomically."""
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _named(e, path) from e
    tmp = Path(name)
    try:
        try_lock(fd)  # held until the file is renamed: it is not stale
        os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())  # not mkstemp's 0600
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        if os.name == "nt":  # Windows renames no open file
            os.close(fd)
            fd = -1
        _publish(tmp, path, overwrite)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, FileExistsError):
            raise _named(e, path) from e
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    _sync_directory(path.parent)
    return path


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Give the finished temporary file its final name."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if the name exists: no gap between checking and creating
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it") from None
    except OSError:  # a file system without hard links: claim the name first, then rename over the claim
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _sync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); where directories cannot be opened this is skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
