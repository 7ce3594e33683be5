"""Advisory locks on open files: a live process's claim that ends with the process, however it ends.

``try_lock(fd)`` takes an exclusive ``flock`` without waiting. The kernel drops it when its holder exits, even
when killed, so a lock that can be taken means that no live process holds it. ``FileLock`` keeps such a lock
on a small file that also names its holder, for the message of whoever finds it taken. Where ``fcntl`` is
missing (Windows) or the file system has no locks, every lock is granted.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on open file ``fd`` without waiting; False when another process holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):  # no locks on this file system
            return True
        raise
    return True


def _read_holder(fd: int, wait: float = 0.5) -> str:
    """The note in a taken lock file; a holder that has just taken the lock writes it a moment later, so an
    empty file is read again for up to ``wait`` seconds before giving up (empty then means "starting")."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip()
        if holder or time.monotonic() > deadline:
            return holder
        time.sleep(0.02)


class LockedError(Exception):
    """The lock is held by another process; ``holder`` is what that process wrote in the lock file."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by {holder or 'another process'}")
        self.path, self.holder = path, holder


class FileLock:
    """An exclusive lock through the file at ``path`` (created if need be, never deleted: deleting a lock file
    would let two processes lock two different files of the same name), held until :meth:`release`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, note: str) -> FileLock:
        """Take the lock and write ``note`` (who holds it) into the file; LockedError if another process has it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise LockedError(self.path, holder)
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (closing the file drops it)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
