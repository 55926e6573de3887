"""Reading and writing tables: JSONL, JSON, Parquet and CSV, with clear errors and atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["InputError", "read_table", "write_table"]

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class InputError(ValueError):
    """Bad input: a missing file, an unknown format, a malformed line or a missing column."""


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
    with p.open(encoding="utf-8") as f:
        if fmt == "json":
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(f"{p}:{e.lineno}: invalid JSON: {e.msg}") from None
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise InputError(f"{p}: expected a JSON list of objects")
            rows = data
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
    return pa.Table.from_pylist(rows)


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` to ``path`` (format from the suffix) atomically: a temporary file in the same
    directory, then a rename, so a reader never sees a partial file."""
    p = Path(path)
    fmt = _format_of(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
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
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p
