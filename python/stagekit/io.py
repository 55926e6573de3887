"""Reading and writing tables: JSONL, JSON, Parquet and CSV, with clear errors; and the one atomic write
every file of stagekit goes through (:func:`atomic_write`)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DURABLE", "TEMP_SUFFIX", "InputError", "Written", "atomic_write", "fsync_dir", "new_file_mode", "read_table",
           "sha256_file", "sha256_path", "write_table"]

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class InputError(ValueError):
    """Bad input: a missing file, an unknown format, a malformed line or a missing column."""


def new_file_mode(base: int = 0o666) -> int:
    """The mode a file (or, with ``base=0o777``, a directory) created now gets under the process umask:
    what :func:`atomic_write` gives a new file, for outputs made another way (a ``mkdtemp`` directory)."""
    return base & ~_umask()


def _format_of(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise InputError(f"{path}: unknown file format {path.suffix!r} (known: {known})")
    return fmt


def _read_saved_dataset(p: Path) -> pa.Table:
    """A directory written by ``datasets.Dataset.save_to_disk``: Arrow IPC streams listed in ``state.json``
    (read with pyarrow alone; ``datasets`` need not be installed)."""
    import pyarrow as pa

    if (p / "dataset_dict.json").is_file():
        splits = json.loads((p / "dataset_dict.json").read_text()).get("splits", [])
        raise InputError(f"{p}: a saved DatasetDict with splits {', '.join(splits)}: pass the split's directory, e.g. {p / (splits[0] if splits else 'train')}")
    state = p / "state.json"
    if not state.is_file():
        raise InputError(f"{p}: a directory, but not a saved `datasets` dataset (no state.json)")
    try:
        files = [p / f["filename"] for f in json.loads(state.read_text())["_data_files"]]
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise InputError(f"{state}: not a `datasets` state file ({e})") from None
    tables = []
    for f in files:
        try:
            with pa.memory_map(str(f)) as source:
                tables.append(pa.ipc.open_stream(source).read_all())
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(f"{f}: cannot read this Arrow file of the saved dataset ({e})") from None
    if not tables:
        raise InputError(f"{p}: the saved dataset lists no data files")
    return pa.concat_tables(tables)


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """Read a JSONL, JSON (a list of objects), Parquet or CSV file, or a directory saved by
    ``datasets.Dataset.save_to_disk``, into an Arrow table.

    A malformed JSONL line raises :class:`InputError` naming the file and the line number.
    """
    import pyarrow as pa

    p = Path(path)
    if p.is_dir():
        return _read_saved_dataset(p)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    fmt = _format_of(p)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(p)
    if fmt == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(p)
    rows: list[dict] = []
    lines: list[int] = []  # the line (JSONL) or the position (JSON list) of each row, for errors
    with p.open(encoding="utf-8") as f:
        if fmt == "json":
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(f"{p}:{e.lineno}: invalid JSON: {e.msg}") from None
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise InputError(f"{p}: expected a JSON list of objects")
            rows = data
            lines = list(range(1, len(rows) + 1))
        else:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{p}:{lineno}: invalid JSON: {e.msg}") from None
                if not isinstance(row, dict):
                    raise InputError(f"{p}:{lineno}: expected a JSON object, got {type(row).__name__}")
                rows.append(row)
                lines.append(lineno)
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InputError(_mixed_types(p, fmt, rows, lines) or f"{p}: cannot make a table of these rows ({e})") from None


def _mixed_types(p: Path, fmt: str, rows: list[dict], lines: list[int]) -> str | None:
    """Name the first column whose values have different JSON types, and where."""
    def kind(v: object) -> str:
        return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__

    seen: dict[str, tuple[str, int]] = {}
    where = "line" if fmt == "jsonl" else "object"
    for row, line in zip(rows, lines, strict=True):
        for col, v in row.items():
            if v is None:
                continue
            k = kind(v)
            first = seen.setdefault(col, (k, line))
            if first[0] != k:
                return (f"{p}: column {col!r} mixes types: {where} {first[1]} has a {first[0]}, {where} {line} "
                        f"a {k} ({v!r}); make them one type")
    return None


#: The suffix of every temporary file :func:`atomic_write` makes (``.<name>.<random>.sk-tmp``, hidden, in the
#: target's directory): a run directory's owner may remove such files left by a killed process.
TEMP_SUFFIX = ".sk-tmp"


class Written(NamedTuple):
    """What :func:`atomic_write` wrote: the final path, its size in bytes and the sha256 of its contents."""

    path: Path
    size: int
    sha256: str


class _Hashing:
    """A binary file object that hashes and counts what goes through it (pyarrow's writers and
    ``json.dump`` accept any object with ``write``)."""

    def __init__(self, f: IO[bytes]):
        self._f, self._h, self.size = f, hashlib.sha256(), 0

    def write(self, b: bytes | bytearray | memoryview) -> int:
        b = bytes(b)
        self._h.update(b)
        self.size += len(b)
        self._f.write(b)
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
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = p.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            out = _Hashing(f)
            if isinstance(data, str):
                out.write(data.encode("utf-8"))
            elif isinstance(data, (bytes, bytearray, memoryview)):
                out.write(data)
            else:
                data(out)  # type: ignore[arg-type]
            f.flush()
            os.fchmod(f.fileno(), mode)
            if DURABLE:
                os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(p.parent)
    return Written(p, out.size, out.hexdigest())


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


def _table_writer(table: pa.Table, fmt: str) -> Callable[[IO[bytes]], None]:
    def write(f: IO[bytes]) -> None:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, f)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, f)
        else:
            rows = table.to_pylist()
            if fmt == "json":
                f.write(json.dumps(rows, ensure_ascii=False, default=str).encode())
            else:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False, default=str).encode() + b"\n")

    return write


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` to ``path`` (format from the suffix) with :func:`atomic_write`."""
    p = Path(path)
    return atomic_write(p, _table_writer(table, _format_of(p))).path
