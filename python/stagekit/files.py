"""Files: the one atomic write every file of stagekit goes through (:func:`atomic_write`), content hashes,
and :class:`InputError`. Tables are read and written by :mod:`stagekit.io`, which re-exports these names."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DURABLE", "TEMP_SUFFIX", "AtomicFile", "HashingWriter", "InputError", "NewFile", "Written", "atomic_write",
           "fsync_dir", "new_file_mode", "sha256_file", "sha256_path"]


class InputError(ValueError):
    """Bad input: a missing file, an unknown format, a malformed line or a missing column."""


#: The suffix of every temporary file :func:`atomic_write` makes (``.<name>.<random>.sk-tmp``, hidden, in the
#: target's directory): a run directory's owner may remove such files left by a killed process.
TEMP_SUFFIX = ".sk-tmp"


class Written(NamedTuple):
    """What :func:`atomic_write` wrote: the final path, its size in bytes and the sha256 of its contents."""

    path: Path
    size: int
    sha256: str


class HashingWriter:
    """A binary file object that hashes and counts what goes through it (pyarrow's writers and
    ``json.dump`` accept any object with ``write``)."""

    def __init__(self, f: IO[bytes], target: Path | None = None):
        self._f, self._h, self.size, self._target = f, hashlib.sha256(), 0, target

    def write(self, b: bytes | bytearray | memoryview) -> int:
        b = bytes(b)
        self._h.update(b)
        self.size += len(b)
        try:
            self._f.write(b)
        except OSError as e:  # a full disk, a quota: the output's problem, named by the output
            raise InputError(f"{self._target}: cannot write ({e.strerror or e})") from None
        return len(b)

    def flush(self) -> None:
        self._f.flush()

    def tell(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        return self._f.closed

    def close(self) -> None:  # the owner closes the real file
        pass

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def hexdigest(self) -> str:
        return self._h.hexdigest()


#: Whether :func:`atomic_write` makes each write durable (fsync of the file and of its directory) before it
#: returns. Atomicity does not depend on it: a crashed or killed process leaves the old file or the new one
#: either way; only a power loss or a kernel crash needs the fsyncs. Set it to False for scratch work and
#: tests on slow disks.
DURABLE = True

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask now: from ``/proc`` where it is shown, else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def new_file_mode(base: int = 0o666) -> int:
    """The mode a file (or, with ``base=0o777``, a directory) created now gets under the process umask:
    what :func:`atomic_write` gives a new file, for outputs made another way (a ``mkdtemp`` directory)."""
    return base & ~_umask()


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename into it) durable; a no-op unless :data:`DURABLE`."""
    if not DURABLE:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a platform without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[IO[bytes]], object]) -> Written:
    """Write a file so that a reader sees the old contents or the new ones, never a part: ``data`` (bytes,
    text written as UTF-8, or a callable that writes to the binary file object it is given) goes to a
    temporary file with a unique name in the target's directory (``.<name>.<random>.sk-tmp``), which is
    flushed and fsynced, renamed over ``path``, and the directory fsynced. On any error (or Ctrl-C) the
    temporary file is removed and ``path`` is left as it was. The new file gets the mode of the file it
    replaces, or ``0o666`` less the umask. Returns the path, the size and the sha256 of what was written.

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> d = Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", "hello").size
    5
    >>> w = atomic_write(d / "t.parquet", lambda f: pq.write_table(pa.table({"x": [1, 2]}), f))
    >>> pq.read_table(w.path).num_rows
    2
    """
    f = AtomicFile(path)
    try:
        if isinstance(data, str):
            f.write(data.encode("utf-8"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            f.write(data)
        else:
            data(f)  # type: ignore[arg-type]
    except BaseException:
        f.abort()
        raise
    return f.commit()


class AtomicFile(HashingWriter):
    """The file object behind :func:`atomic_write`, for a writer that pushes its data over time (a table
    written batch by batch): it writes into ``.<name>.<random>.sk-tmp`` beside ``path``; :meth:`commit`
    flushes, fsyncs and renames it over ``path``; :meth:`abort` removes it. Until :meth:`commit`, ``path`` is
    as it was."""

    def __init__(self, path: str | os.PathLike[str]):
        p = Path(path)
        if p.is_dir():
            raise InputError(f"{p}: is a directory; cannot write a file there")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"{p}: cannot create its directory {p.parent} ({_why(e)})") from None
        try:
            self.mode = p.stat().st_mode & 0o7777
        except FileNotFoundError:
            self.mode = new_file_mode()
        self.path, self.tmp = p, p.parent / f".{p.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise InputError(f"{p}: cannot write into {p.parent} ({_why(e)})") from None
        super().__init__(os.fdopen(fd, "wb"), p)

    def commit(self) -> Written:
        """Put the file in place (durably when :data:`DURABLE`); the path, size and sha256 of what was
        written. On an error the temporary file is removed and ``path`` left as it was."""
        f = self._f
        try:
            f.flush()
            os.fchmod(f.fileno(), self.mode)
            if DURABLE:
                os.fsync(f.fileno())
            f.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_dir(self.path.parent)
        return Written(self.path, self.size, self.hexdigest())

    def abort(self) -> None:
        """Close and remove the temporary file; ``path`` stays as it was."""
        if not self._f.closed:
            self._f.close()
        self.tmp.unlink(missing_ok=True)


class NewFile(HashingWriter):
    """A file created for writing that must not exist yet (``O_EXCL``), hashed as it is written, with the
    umask's mode, made durable by :meth:`close`. For files inside a temporary directory that is renamed into
    place as a whole (the parts of a table); a lone file is written with :func:`atomic_write`."""

    def __init__(self, path: str | os.PathLike[str]):
        p = Path(path)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise InputError(f"{p}: cannot write into {p.parent} ({_why(e)})") from None
        os.fchmod(fd, new_file_mode())
        super().__init__(os.fdopen(fd, "wb"), p)
        self.path = p

    def finish(self) -> Written:
        """Flush, fsync (when :data:`DURABLE`) and close; the path, size and sha256 of what was written."""
        f = self._f
        if not f.closed:
            f.flush()
            if DURABLE:
                os.fsync(f.fileno())
            f.close()
        return Written(self.path, self.size, self.hexdigest())

    def abort(self) -> None:
        """Close and remove the file."""
        if not self._f.closed:
            self._f.close()
        self.path.unlink(missing_ok=True)


def _why(e: OSError) -> str:
    if isinstance(e, (FileExistsError, NotADirectoryError)):
        return "a file is in the way: a directory is needed there"
    return e.strerror or str(e)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's contents (hex), read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_path(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, or of a directory's files (their relative names and contents, in name order)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(f.relative_to(p).as_posix().encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()
