r"""Tables in and out: files on disk read in record batches with bounded memory, and written batch by batch
(the atomic write, hashes and :class:`InputError` come from :mod:`stagekit.files` and are re-exported here).

:class:`Source` is the one place that turns a file (or a directory or glob of parts) into Arrow data:
JSONL, JSON, Parquet, CSV, and directories saved by ``datasets.Dataset.save_to_disk``. Memory is bounded by
the batch (:data:`BATCH_BYTES` of Arrow data, or ``batch_rows`` rows), not by the input:

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
>>> _ = p.write_text('{"completion": "\\\\boxed{4}", "answer": 4}\n{"completion": "5", "answer": "5"}\n')
>>> src = Source(p, text=("answer",))
>>> [b.num_rows for b in src.batches()], src.read_all()["answer"].to_pylist()
([2], ['4', '5'])

- **JSONL** is cut into blocks of whole lines and each block parsed by pyarrow's JSON reader; a block it
  refuses is parsed again line by line only to name the bad line (``file:line: invalid JSON: ...``,
  invalid UTF-8, a line that is not an object, a column mixing types). Strings stay strings (pyarrow would
  read ``"2020-01-01"`` as a timestamp).
- **Text columns** (``text=``: the completion and gold columns) are read as text: a number becomes the text
  it was written as (``4`` -> ``"4"``, ``1e400`` and 30-digit integers kept exactly).
- **Parquet** is read row group by row group in batches sized from its metadata (``buffer_size``: pages
  are read as needed, not whole column chunks). **CSV** with pyarrow's streaming reader; its errors are
  located (``file:line``) by a second, Python look at the file. A **JSON** list is read whole.
- A directory (``part-*.parquet``, trl's ``completions/``, a RolloutRecorder's directory) or a glob of
  parts is read part by part, in name order; hidden files (a writer's temporaries) are skipped. Parquet
  parts' schemas are unified from their footers before anything is read (a column added later is null in
  earlier parts).
- Anything that is not a regular file (a FIFO, a device) is refused by name, never opened.

:func:`write_batches` writes a stream of batches to one file (Parquet, CSV, JSONL, JSON) through
:func:`stagekit.files.atomic_write`: a failure half-way leaves the old file (or none).
"""

from __future__ import annotations

import csv
import glob as _glob
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from stagekit.files import (
    DURABLE,
    TEMP_SUFFIX,
    AtomicFile,
    HashingWriter,
    InputError,
    NewFile,
    Written,
    atomic_write,
    fsync_dir,
    new_file_mode,
    sha256_file,
    sha256_path,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BATCH_BYTES", "DURABLE", "FORMATS", "TEMP_SUFFIX", "AtomicFile", "BatchFile", "HashingWriter", "InputError",
           "NewFile", "Source", "Unit", "Written", "atomic_write", "conform", "format_of", "fsync_dir", "new_file_mode",
           "output_format", "output_schema", "read_table", "sha256_file", "sha256_path", "table_batches", "write_batches",
           "write_table"]

#: Arrow bytes per batch by default: about 32k rows of 1 kB completions. Peak memory of a streaming command
#: is a small multiple of it (the batch, its verdicts, the parser's and the writer's buffers).
BATCH_BYTES = 32 << 20

#: File formats by suffix.
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def format_of(path: Path) -> str:
    """The format of a file by its suffix; an :class:`InputError` naming the file otherwise."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise InputError(f"{path}: unknown file format {path.suffix!r} (known: {known})")
    return fmt


def output_format(path: Path) -> str:
    """The format of an output file, checked before any work: the suffix known, and the path not a
    directory; an :class:`InputError` naming the path otherwise."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name (.parquet, .jsonl, .json or .csv)")
    return format_of(path)


_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket"}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a file or directory")


def _stat(p: Path) -> os.stat_result:
    try:
        return p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise InputError(f"{p}: no such file (a broken symbolic link to {os.readlink(p)})") from None
        raise InputError(f"{p}: no such file") from None
    except PermissionError:
        raise InputError(f"{p}: permission denied") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror})") from None


@dataclass(frozen=True)
class Unit:
    """A piece of a source that one reader (or one Ray task) reads alone: a file, a byte range of a JSONL
    file (``start``/``stop``: the lines that start in ``[start, stop)``), or row groups ``[start, stop)`` of
    a Parquet file."""

    path: Path
    fmt: str
    start: int = 0
    stop: int | None = None


def _is_part(p: Path, root: Path) -> bool:
    rel = p.relative_to(root).parts
    return not any(x.startswith((".", "_")) for x in rel) and p.suffix.lower() in FORMATS


class Source:
    """A table on disk, read in record batches (see the module docstring).

    ``path``: a file, a directory of parts (or one saved by ``datasets``), or a glob pattern. ``text``:
    columns read as text (numbers as written). ``columns``: read only these (others are not even decoded
    where the format allows). ``batch_rows``: batches of exactly that many rows (the last one shorter);
    otherwise about ``batch_bytes`` of Arrow data each.
    """

    def __init__(self, path: str | os.PathLike[str], *, text: Iterable[str] = (), columns: Sequence[str] | None = None,
                 batch_rows: int | None = None, batch_bytes: int = BATCH_BYTES):
        if batch_rows is not None and batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
        self.path = Path(path)
        self.text = tuple(dict.fromkeys(text))
        self.columns = None if columns is None else list(columns)
        self.batch_rows, self.batch_bytes = batch_rows, max(int(batch_bytes), 1)
        self.files, self.saved = self._resolve()
        self._where: Any = str(self.path)
        self._schema: pa.Schema | None = None
        self._csv_forced: dict[Path, dict[str, Any]] = {}
        self._csv_restart = False

    def __repr__(self) -> str:
        return f"Source({str(self.path)!r}, {len(self.files)} file(s))"

    @property
    def position(self) -> str:
        """Where the batch last read starts (``file:line``, ``file (row group N)``): for error messages."""
        w = self._where
        return f"{w[0]}:{w[1]}" if isinstance(w, tuple) else str(w)

    @position.setter
    def position(self, value: Any) -> None:
        self._where = value

    # -- files -------------------------------------------------------------------------------------------

    def _resolve(self) -> tuple[list[tuple[Path, str]], bool]:
        p = self.path
        if not os.path.lexists(p) and _glob.has_magic(str(p)):
            found = sorted(Path(x) for x in _glob.glob(str(p), recursive=True))
            files = [x for x in found if not x.name.startswith(".")]
            if not files:
                raise InputError(f"{p}: no file matches this pattern")
            out = []
            for f in files:
                st = _stat(f)
                if not stat.S_ISREG(st.st_mode):
                    raise InputError(f"{f}: not a regular file ({_kind(st.st_mode)}), matched by {p}")
                out.append((f, format_of(f)))
            return self._one_format(out), False
        st = _stat(p)
        if stat.S_ISREG(st.st_mode):
            fmt = format_of(p)
            if st.st_size == 0:
                raise InputError(f"{p}: empty file")
            return [(p, fmt)], False
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{p}: not a regular file ({_kind(st.st_mode)}); give a file, a directory of parts "
                             "or a glob")
        if (p / "dataset_dict.json").is_file():
            try:
                splits = json.loads((p / "dataset_dict.json").read_text()).get("splits", [])
            except (ValueError, AttributeError, OSError):
                splits = []
            raise InputError(f"{p}: a saved DatasetDict with splits {', '.join(splits)}: pass the split's directory, "
                             f"e.g. {p / (splits[0] if splits else 'train')}")
        if (p / "state.json").is_file():
            return self._saved_dataset(p), True
        parts: list[tuple[Path, str]] = []
        for f in sorted(x for x in p.rglob("*") if _is_part(x, p)):
            st = _stat(f)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"{f}: not a regular file ({_kind(st.st_mode)}), in {p}")
            if st.st_size == 0 and FORMATS[f.suffix.lower()] in ("jsonl", "csv"):
                continue  # an empty part of a text format holds no rows
            parts.append((f, FORMATS[f.suffix.lower()]))
        if not parts:
            raise InputError(f"{p}: a directory without table files ({', '.join(sorted(FORMATS))}) and not a saved "
                             "`datasets` dataset (no state.json)")
        return self._one_format(parts), False

    def _one_format(self, files: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
        fmts = sorted({f for _, f in files})
        if len(fmts) > 1:
            raise InputError(f"{self.path}: parts of different formats ({', '.join(fmts)}): give one format")
        return files

    @staticmethod
    def _saved_dataset(p: Path) -> list[tuple[Path, str]]:
        state = p / "state.json"
        try:
            files = [p / f["filename"] for f in json.loads(state.read_text())["_data_files"]]
        except (KeyError, TypeError, ValueError, OSError) as e:
            raise InputError(f"{state}: not a `datasets` state file ({e})") from None
        if not files:
            raise InputError(f"{p}: the saved dataset lists no data files")
        for f in files:
            st = _stat(f)
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"{f}: not a regular file ({_kind(st.st_mode)}), listed in {state}")
        return [(f, "arrow") for f in files]

    def sha256(self) -> str:
        """A content hash of the source: the file's sha256, or of its parts' names and contents."""
        if len(self.files) == 1 and self.files[0][0] == self.path:
            return sha256_file(self.path)
        if self.path.is_dir():
            return sha256_path(self.path)
        import hashlib

        h = hashlib.sha256()
        for f, _ in self.files:
            h.update(f.name.encode())
            h.update(sha256_file(f).encode())
        return h.hexdigest()

    @property
    def size(self) -> int:
        """Bytes on disk."""
        return sum(f.stat().st_size for f, _ in self.files)

    # -- units -----------------------------------------------------------------------------------------

    def units(self, target_bytes: int | None = None) -> list[Unit]:
        """The source cut into pieces that can be read independently: whole files, or with
        ``target_bytes``, byte ranges of large JSONL files and row-group ranges of large Parquet files."""
        out: list[Unit] = []
        for f, fmt in self.files:
            size = f.stat().st_size
            if target_bytes and fmt == "jsonl" and size > target_bytes:
                out.extend(Unit(f, fmt, s, min(s + target_bytes, size)) for s in range(0, size, target_bytes))
            elif target_bytes and fmt == "parquet" and size > target_bytes:
                md = self._parquet(f).metadata
                start, acc = 0, 0
                for i in range(md.num_row_groups):
                    acc += md.row_group(i).total_byte_size
                    if acc >= target_bytes:
                        out.append(Unit(f, fmt, start, i + 1))
                        start, acc = i + 1, 0
                if start < md.num_row_groups or not out:
                    out.append(Unit(f, fmt, start, md.num_row_groups))
            else:
                out.append(Unit(f, fmt))
        return out

    # -- schema ----------------------------------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        """The columns and types: for Parquet and saved datasets, unified from every part's footer; for
        the text formats, those of the first batch (which fix a column's type when streaming, as pyarrow's
        own streaming readers do)."""
        if self._schema is None:
            import pyarrow as pa

            if all(fmt in ("parquet", "arrow") for _, fmt in self.files):
                schemas = [self._file_schema(f, fmt) for f, fmt in self.files]
                try:
                    schema = pa.unify_schemas(schemas, promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                    raise InputError(f"{self.path}: its parts' columns do not agree ({e})") from None
                schema = self._text_schema(schema)
            else:
                schema = self._first_schema()
            if self.columns is not None:
                schema = pa.schema([schema.field(c) for c in self.columns if c in schema.names])
            self._schema = schema
        return self._schema

    def _first_schema(self) -> pa.Schema:
        """The columns of the first batch of a text format (a CSV file's header where it has no rows)."""
        import pyarrow as pa

        for unit in self.units():
            first = next(self._raw_batches([unit]), None)
            if first is not None:
                return first.schema
            if unit.fmt == "csv":
                import pyarrow.csv as pcsv

                try:
                    header = pcsv.open_csv(str(unit.path), parse_options=pcsv.ParseOptions(newlines_in_values=True)).schema
                except pa.ArrowInvalid:
                    continue
                return self._text_schema(header)
        return pa.schema([])

    def is_empty(self) -> bool:
        """Whether the source holds no rows (read from the Parquet footers; else the first batch is read)."""
        if all(fmt == "parquet" for _, fmt in self.files):
            return all(self._parquet(f).metadata.num_rows == 0 for f, _ in self.files)
        return next(self._raw_batches(self.units()), None) is None

    def _text_schema(self, schema: pa.Schema) -> pa.Schema:
        import pyarrow as pa

        fields = []
        for fld in schema:
            if fld.name in self.text and _castable_to_text(fld.type):
                fld = fld.with_type(pa.string())
            fields.append(fld)
        return pa.schema(fields, metadata=schema.metadata)

    def _file_schema(self, f: Path, fmt: str) -> pa.Schema:
        import pyarrow as pa

        if fmt == "parquet":
            return self._parquet(f).schema_arrow
        try:
            with pa.OSFile(str(f)) as src:
                return pa.ipc.open_stream(src).schema
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(f"{f}: cannot read this Arrow file of the saved dataset ({e})") from None

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    # -- batches ---------------------------------------------------------------------------------------

    def batches(self, units: Iterable[Unit] | None = None) -> Iterator[pa.RecordBatch]:
        """The record batches of the source (or of ``units``), in order. Text columns are strings; with
        ``batch_rows`` every batch but the last has exactly that many rows."""
        raw = self._raw_batches(self.units() if units is None else units)
        return _rechunk(raw, self.batch_rows) if self.batch_rows else _coalesce(raw, self.batch_bytes)

    __iter__ = batches

    def read_all(self) -> pa.Table:
        """The whole source as one table (columns of different parts unified; a column mixing types is an
        :class:`InputError` naming it and where its type changes)."""
        import pyarrow as pa

        tables: list[pa.Table] = []
        wheres: list[str] = []
        self._csv_restart = True
        try:
            while True:
                try:
                    for b in self._raw_batches(self.units()):
                        tables.append(pa.Table.from_batches([b]))
                        wheres.append(self.position)
                    break
                except _CsvRestart as r:  # a CSV column's type changed: start again, reading it as text
                    self._csv_forced.setdefault(r.path, {})[r.column] = pa.string()
                    tables, wheres = [], []
        finally:
            self._csv_restart = False
        if not tables:
            return self.schema.empty_table()
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            first = tables[0].schema
            for t, where in zip(tables[1:], wheres[1:], strict=True):
                for fld in t.schema:
                    if fld.name in first.names and not _widens(fld.type, first.field(fld.name).type) \
                            and not _widens(first.field(fld.name).type, fld.type):
                        raise InputError(f"{where}: column {fld.name!r} holds {fld.type} values from here on, but "
                                         f"{first.field(fld.name).type} before ({wheres[0]}); make them one type") from None
            raise InputError(f"{self.path}: cannot make one table of its rows ({e})") from None

    def _raw_batches(self, units: Iterable[Unit]) -> Iterator[pa.RecordBatch]:
        for unit in units:
            reader = {"jsonl": self._jsonl, "json": self._json, "parquet": self._parquet_batches, "csv": self._csv,
                      "arrow": self._arrow}[unit.fmt]
            for batch in reader(unit):
                if self.columns is not None:
                    batch = batch.select([c for c in self.columns if c in batch.schema.names])
                yield self._cast_text(batch)

    def _cast_text(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow as pa

        for name in self.text:
            i = batch.schema.get_field_index(name)
            if i < 0:
                continue
            t = batch.schema.field(i).type
            if pa.types.is_string(t) or not _castable_to_text(t):
                continue
            try:
                col = batch.column(i).cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            batch = batch.set_column(i, pa.field(name, pa.string()), col)
        return batch

    # -- JSONL ------------------------------------------------------------------------------------------

    def _jsonl(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        first: _FirstLine | None = None
        seen = 0  # lines of the unit before this block
        for offset, block in _line_blocks(unit, self.batch_bytes):
            if first is None:
                first = _FirstLine(unit.path, offset)
            line = _Line(first, seen)
            seen += _newlines(block)
            if not _NONBLANK.search(block):
                continue
            self.position = (unit.path, line)  # the unit's first line is counted only if a message needs it
            table = _parse_jsonl(unit.path, block, line, self.text)
            yield from table.to_batches()

    # -- JSON (a list of objects) ------------------------------------------------------------------------

    def _json(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        p = unit.path
        raw = b""
        try:
            with p.open("rb") as f:
                raw = f.read()
            data = json.loads(raw.decode("utf-8"), parse_int=_Int, parse_float=_Float)
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise InputError(f"{p}:{line}: invalid UTF-8 (byte 0x{raw[e.start]:02x})") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(f"{p}: expected a JSON list of objects")
        rows = [_restore_row(r, self.text) for r in data]
        self.position = str(p)
        try:
            table = _from_rows(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise InputError(_mixed_types(p, rows, list(range(1, len(rows) + 1)), "object")
                             or f"{p}: cannot make a table of these objects ({e})") from None
        yield from table.to_batches(max_chunksize=max(1, self.batch_rows or 1 << 16))

    # -- Parquet ---------------------------------------------------------------------------------------

    @staticmethod
    def _parquet(f: Path) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(str(f), pre_buffer=False, buffer_size=1 << 22)
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
            raise InputError(f"{f}: not a readable Parquet file ({_short(e)})") from None

    def _parquet_batches(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        pf = self._parquet(unit.path)
        md = pf.metadata
        groups = list(range(unit.start, md.num_row_groups if unit.stop is None else unit.stop))
        if not groups:
            return
        cols = None if self.columns is None else [c for c in self.columns if c in pf.schema_arrow.names]
        size = sum(md.row_group(i).total_byte_size for i in groups)
        rows = sum(md.row_group(i).num_rows for i in groups)
        if cols is not None and md.num_columns:
            share = sum(md.row_group(groups[0]).column(j).total_uncompressed_size for j in range(md.num_columns)
                        if md.row_group(groups[0]).column(j).path_in_schema.split(".")[0] in cols)
            size = int(size * share / max(md.row_group(groups[0]).total_byte_size, 1))
        per = max(1, min(1 << 20, int(self.batch_bytes * rows / max(size, 1))))
        self.position = f"{unit.path} (row group {groups[0]})"
        try:
            for batch in pf.iter_batches(batch_size=self.batch_rows or per, row_groups=groups, columns=cols):
                yield batch
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
            raise InputError(f"{unit.path}: not a readable Parquet file ({_short(e)})") from None

    # -- CSV -------------------------------------------------------------------------------------------

    def _csv(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        """A CSV file with pyarrow's streaming reader. Its first block decides each column's type; a later
        value that does not fit makes the file be read again from the start with that column as text,
        skipping the rows already given, when those rows held the column as null (empty so far). When they
        held it with another type (numbers, dates), that is an :class:`InputError` naming the line, unless
        the whole file is being read (:meth:`read_all` starts again with the column as text)."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        p = unit.path
        forced = {c: pa.string() for c in self.text} | self._csv_forced.get(p, {})
        block = min(self.batch_bytes, 1 << 26)
        done = 0
        given: dict[str, pa.DataType] = {}
        while True:
            self.position = f"{p}:1"
            names: list[str] | None = None
            seen = 0
            try:
                reader = pcsv.open_csv(str(p), read_options=pcsv.ReadOptions(block_size=block),
                                       parse_options=pcsv.ParseOptions(newlines_in_values=True),  # completions have them
                                       convert_options=pcsv.ConvertOptions(column_types=forced,
                                                                           include_columns=self._csv_columns(p)))
                names = reader.schema.names
                for batch in reader:
                    self.position = f"{p}:{seen + 2}"
                    if seen + batch.num_rows <= done:
                        seen += batch.num_rows
                        continue
                    if seen < done:
                        batch = batch.slice(done - seen)
                        seen = done
                    for fld in batch.schema:
                        if pa.types.is_binary(fld.type):  # not UTF-8: pyarrow falls back to bytes
                            raise _csv_error(p, f"column {fld.name!r} is not valid UTF-8", names=names, utf8=True)
                        given.setdefault(fld.name, fld.type)
                    seen += batch.num_rows
                    done = seen
                    yield batch
                return
            except pa.ArrowInvalid as e:
                msg = str(e)
                if msg.startswith("Empty CSV file"):
                    raise InputError(f"{p}: empty file") from None
                if "straddl" in msg and block < p.stat().st_size:
                    block = min(block * 4, 1 << 30)  # a row longer than a block
                    continue
                conv = re.search(r"CSV column #(\d+): CSV conversion error to (\w+)", msg)
                name = names[int(conv.group(1))] if conv and names else None
                if name is None or "invalid UTF8" in msg or name in forced:
                    raise _csv_error(p, msg, names=names) from None
                earlier = given.get(name)
                if earlier is not None and self._csv_restart:
                    raise _CsvRestart(p, name) from None
                if earlier is not None and not pa.types.is_null(earlier):
                    where = _csv_locate(p, msg, names, False)
                    raise InputError(f"{p}{where}: column {name!r} holds a value that is not {earlier}, the type its "
                                     "first rows gave it (a CSV file's first block fixes its columns' types when it "
                                     "is read in batches); make the column one type, or convert the file to Parquet"
                                     ) from None
                forced[name] = pa.string()  # read again, this column as text

    def _csv_columns(self, p: Path) -> list[str] | None:
        """The columns to convert (``columns=``, those the file has), or None for all."""
        if self.columns is None:
            return None
        import pyarrow.csv as pcsv

        header = pcsv.open_csv(str(p), parse_options=pcsv.ParseOptions(newlines_in_values=True),
                               convert_options=pcsv.ConvertOptions(column_types={c: "string" for c in self.columns})).schema
        return [c for c in self.columns if c in header.names]

    # -- saved datasets (Arrow IPC streams) ------------------------------------------------------------

    def _arrow(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        self.position = str(unit.path)
        try:
            with pa.OSFile(str(unit.path)) as src:
                yield from pa.ipc.open_stream(src)
        except (OSError, pa.ArrowInvalid) as e:
            raise InputError(f"{unit.path}: cannot read this Arrow file of the saved dataset ({e})") from None


# ------------------------------------------------------------------------------------------------ JSONL blocks


class _FirstLine:
    """The line number of a unit's first line (at a byte offset of its file), counted once and only when a
    message needs it: a byte range far into a large file does not know its line until then."""

    def __init__(self, path: Path, offset: int):
        self.path, self.offset = path, offset
        self._line: int | None = 1 if offset == 0 else None

    def __int__(self) -> int:
        if self._line is None:
            n = 0
            with self.path.open("rb") as f:
                left = self.offset
                while left > 0:
                    chunk = f.read(min(left, 1 << 24))
                    if not chunk:
                        break
                    n += chunk.count(b"\n")
                    left -= len(chunk)
            self._line = n + 1
        return self._line


def _newlines(block: bytes | memoryview) -> int:
    """Newlines in a block of :func:`_line_blocks` (a view is always a prefix of what was read)."""
    if isinstance(block, memoryview):
        whole = block.obj
        assert isinstance(whole, bytes)
        return whole.count(b"\n", 0, block.nbytes)
    return block.count(b"\n")


class _Line:
    """The line number of a block's first line: its unit's first line and the lines of the unit before it
    (counted as blocks go by), so asking it for every block reads nothing again."""

    def __init__(self, first: _FirstLine, before: int):
        self.first, self.before = first, before

    def __int__(self) -> int:
        return int(self.first) + self.before

    def __add__(self, k: int) -> int:
        return int(self) + k

    def __str__(self) -> str:
        return str(int(self))


def _line_blocks(unit: Unit, block_bytes: int) -> Iterator[tuple[int, bytes | memoryview]]:
    """Blocks of whole lines of a JSONL file (the last line may lack its newline), with the byte offset of
    each block's start; without copies (a block is a view of what was read; the file is read again from the
    start of the line a block cut). A unit's byte range holds the lines that start inside it."""
    with unit.path.open("rb") as f:
        pos = unit.start
        if pos > 0:  # the first line starting at or after `start`
            f.seek(pos - 1)
            if f.read(1) != b"\n":
                pos += len(f.readline())
        f.seek(pos)
        stop = unit.stop
        size = block_bytes
        while stop is None or pos < stop:
            chunk = f.read(size)
            if not chunk:
                return
            if stop is not None and pos + len(chunk) >= stop:  # the lines that start before `stop`, the last whole
                nl = chunk.find(b"\n", max(stop - pos - 1, 0))
                if nl < 0 and len(chunk) == size:
                    f.seek(pos)
                    size *= 2
                    continue
                yield pos, memoryview(chunk)[: nl + 1] if nl >= 0 else chunk
                return
            cut = chunk.rfind(b"\n")
            if cut < 0:
                if len(chunk) < size:  # the file's last line, without a newline
                    yield pos, chunk
                    return
                f.seek(pos)  # one line longer than a block: read it whole
                size *= 2
                continue
            yield pos, memoryview(chunk)[: cut + 1] if cut + 1 < len(chunk) else chunk
            pos += cut + 1
            if cut + 1 < len(chunk):
                f.seek(pos)
            size = block_bytes


_NONBLANK = re.compile(rb"\S")


class _Int(str):
    """A JSON integer as written (for text columns)."""


class _Float(str):
    """A JSON number with a fraction or exponent, as written."""


def _restore(v: Any) -> Any:
    if isinstance(v, _Int):
        return int(v)
    if isinstance(v, _Float):
        return float(v)
    if isinstance(v, list):
        return [_restore(x) for x in v]
    if isinstance(v, dict):
        return {k: _restore(x) for k, x in v.items()}
    return v


def _restore_row(row: dict, text: Sequence[str]) -> dict:
    """A row parsed with numbers kept as written: numbers of text columns as their text (``true``/``false``
    for booleans), every other number as a Python number."""
    out = {}
    for k, v in row.items():
        if k in text and isinstance(v, (_Int, _Float)):
            out[k] = str.__str__(v)
        elif k in text and isinstance(v, bool):
            out[k] = "true" if v else "false"
        else:
            out[k] = _restore(v)
    return out


def _parse_jsonl(p: Path, block: bytes | memoryview, line: _Line, text: Sequence[str]) -> pa.Table:
    """A block of JSONL lines as a table: pyarrow's reader (text columns read as strings), or a line by line
    parse where pyarrow refuses the block, which names the bad line or returns the exact table (numbers in
    text columns)."""
    import pyarrow as pa
    import pyarrow.json as pj

    explicit = pa.schema([(c, pa.string()) for c in text])
    for attempt in range(3):
        try:
            table = pj.read_json(
                pa.py_buffer(block),
                read_options=pj.ReadOptions(block_size=(1 << 20) if attempt == 0 else len(block) + 1),
                parse_options=pj.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer"))
        except pa.ArrowInvalid as e:
            if "straddl" in str(e) and attempt == 0:
                continue  # a line longer than pyarrow's block: one block for all
            return _parse_jsonl_python(p, block, line, text)
        except (UnicodeDecodeError, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return _parse_jsonl_python(p, block, line, text)
        try:
            dated = [f.name for f in table.schema if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)]
        except UnicodeDecodeError:  # a key that is not UTF-8
            return _parse_jsonl_python(p, block, line, text)
        if dated:  # JSON has no dates: these were strings that pyarrow took for timestamps
            explicit = pa.schema([*explicit, *[(c, pa.string()) for c in dated if c not in text]])
            continue
        try:
            table.validate(full=True)  # pyarrow's JSON reader does not check UTF-8
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return _parse_jsonl_python(p, block, line, text)
        for name in explicit.names:  # an explicit column absent from every line of the block is no column
            if table[name].null_count == table.num_rows and _absent(block, name):
                table = table.drop_columns([name])
        return table
    return _parse_jsonl_python(p, block, line, text)


def _absent(block: bytes | memoryview, name: str) -> bool:
    """Whether no line of the block has the key ``name`` (the key's text appears nowhere, or a parse of the
    lines that hold it finds it in none)."""
    key = json.dumps(name).encode()
    block = bytes(block)
    if key not in block:
        return True
    for raw in block.split(b"\n"):
        if key in raw:
            try:
                row = json.loads(raw)
            except ValueError:
                return False
            if isinstance(row, dict) and name in row:
                return False
    return True


def _parse_jsonl_python(p: Path, block: bytes | memoryview, line: _Line, text: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    block = bytes(block)
    rows: list[dict] = []
    lines: list[int] = []
    first = int(line)
    for i, raw in enumerate(block.split(b"\n")):
        if not raw.strip():
            continue
        n = first + i
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            col = len(raw[: e.start].decode("utf-8", "replace")) + 1
            raise InputError(f"{p}:{n}: invalid UTF-8 (byte 0x{raw[e.start]:02x} at column {col})") from None
        try:
            row = json.loads(s, parse_int=_Int, parse_float=_Float)
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{n}: invalid JSON: {e.msg} (column {e.colno})") from None
        except RecursionError:
            raise InputError(f"{p}:{n}: invalid JSON: nested too deeply") from None
        if not isinstance(row, dict):
            raise InputError(f"{p}:{n}: expected a JSON object, got {_json_kind(row)}")
        rows.append(_restore_row(row, text))
        lines.append(n)
    try:
        table = _from_rows(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as e:
        raise InputError(_mixed_types(p, rows, lines, "line")
                         or f"{p}:{lines[0]}-{lines[-1]}: cannot make a table of these lines ({e})") from None
    for name in table.column_names:  # JSON has no dates, and text columns are text
        t = table.schema.field(name).type
        if name in text and pa.types.is_null(t):
            table = table.set_column(table.column_names.index(name), name, table[name].cast(pa.string()))
    return table


def _from_rows(rows: list[dict]) -> pa.Table:
    """A table of row dicts with every key of every row as a column (``Table.from_pylist`` would take the
    first row's keys only), in the order keys first appear."""
    import pyarrow as pa

    keys = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({k: [r.get(k) for r in rows] for k in keys})


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float, _Int, _Float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return "null"


def _mixed_types(p: Path, rows: list[dict], lines: list[int], where: str) -> str | None:
    """Name the first column whose values have different JSON types, and where."""
    seen: dict[str, tuple[str, int]] = {}
    for row, line in zip(rows, lines, strict=True):
        for col, v in row.items():
            if v is None:
                continue
            k = _json_kind(v)
            first = seen.setdefault(col, (k, line))
            if first[0] != k:
                sep = ":" if where == "line" else ": object "
                return (f"{p}{sep}{line}: column {col!r} holds {k} ({v!r:.60}), but {first[0]} at {where} {first[1]}; "
                        "make them one type")
    for row, line in zip(rows, lines, strict=True):
        for col, v in row.items():
            if isinstance(v, int) and not isinstance(v, bool) and not -(1 << 63) <= v < (1 << 63):
                return f"{p}:{line}: column {col!r} holds an integer too large for 64 bits ({v})"
    return None


# ------------------------------------------------------------------------------------------------ CSV errors


class _CsvRestart(Exception):
    """A CSV column's type changed after the first block (read whole: start again with it as text)."""

    def __init__(self, path: Path, column: str):
        super().__init__(path, column)
        self.path, self.column = path, column


def _csv_error(p: Path, msg: str, *, names: list[str] | None = None, utf8: bool = False) -> InputError:
    """An :class:`InputError` for a CSV file that pyarrow refused, naming the line (found by a Python look
    at the file)."""
    if "invalid UTF8" in msg:
        utf8 = True
        col = re.search(r"CSV column #(\d+)", msg)
        if col and names and int(col.group(1)) < len(names):
            msg = f"column {names[int(col.group(1))]!r} is not valid UTF-8"
        else:
            msg = "not valid UTF-8"
    where = _csv_locate(p, msg, names, utf8)
    return InputError(f"{p}{where}: {msg.removeprefix('CSV parse error: ')}")


def _csv_locate(p: Path, msg: str, names: list[str] | None, utf8: bool) -> str:
    conv = re.search(r"CSV column #(\d+): CSV conversion error to (\w+)", msg)
    with p.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            return ""
        width = len(header)
        line = reader.line_num
        try:
            for row in reader:
                start, line = line + 1, reader.line_num
                if utf8 and any(any("\udc80" <= ch <= "\udcff" for ch in v) for v in row):
                    return f":{start}"
                if row and len(row) != width:
                    return f":{start}" if start == line else f":{start}-{line}"
                if conv and row:
                    j, kind = int(conv.group(1)), conv.group(2)
                    if j < len(row) and row[j] != "" and not _parses(row[j], kind):
                        return f":{start} (column {header[j]!r})"
        except csv.Error:
            return f":{line + 1}"
    return ""


def _parses(v: str, kind: str) -> bool:
    import datetime

    try:
        if kind.startswith(("int", "uint")):
            int(v)
        elif kind in ("double", "float"):
            float(v)
        elif kind == "bool":
            return v.lower() in ("true", "false", "1", "0")
        elif kind.startswith(("timestamp", "date", "time")):
            datetime.datetime.fromisoformat(v)
        elif kind == "null":
            return False
        return True
    except ValueError:
        return False


def _short(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


# ------------------------------------------------------------------------------------------------ batching


def _castable_to_text(t: pa.DataType) -> bool:
    import pyarrow as pa

    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)
            or pa.types.is_decimal(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly ``rows`` rows (the last one shorter)."""
    import pyarrow as pa

    buf: list[pa.RecordBatch] = []
    have = 0
    for b in batches:
        while b.num_rows:
            take = min(rows - have, b.num_rows)
            buf.append(b.slice(0, take))
            have += take
            b = b.slice(take)
            if have == rows:
                yield _concat(buf)
                buf, have = [], 0
    if have:
        yield _concat(buf)


def _coalesce(batches: Iterator[pa.RecordBatch], target: int) -> Iterator[pa.RecordBatch]:
    """Small batches (a saved dataset's 1,000 rows) joined up to about ``target`` bytes; large ones as they are."""
    buf: list[pa.RecordBatch] = []
    have = 0
    for b in batches:
        if b.num_rows == 0:
            continue
        if buf and (have + b.nbytes > target or b.schema != buf[0].schema):
            yield _concat(buf)
            buf, have = [], 0
        buf.append(b)
        have += b.nbytes
        if have >= target // 2:
            yield _concat(buf)
            buf, have = [], 0
    if buf:
        yield _concat(buf)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One batch of several (of one schema, or of schemas that unify: a column missing from some is null
    there, a narrower type widened)."""
    import pyarrow as pa

    if len(batches) == 1:
        return batches[0]
    if all(b.schema == batches[0].schema for b in batches):
        return pa.concat_batches(batches)
    try:
        t = pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise InputError(f"the rows' columns change type between batches ({e})") from None
    return t.combine_chunks().to_batches()[0]


def _widens(src: pa.DataType, dst: pa.DataType) -> bool:
    """Whether values of type ``src`` fit type ``dst`` without loss of meaning (null into anything, an
    integer into a wider integer or a float, a string into a large string)."""
    import pyarrow as pa

    if src == dst or pa.types.is_null(src):
        return True
    try:
        unified = pa.unify_schemas([pa.schema([("x", dst)]), pa.schema([("x", src)])], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return unified.field("x").type == dst


def conform(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``'s columns: missing ones null, narrower types widened. A column of
    another type, or one the schema lacks, is an :class:`InputError` naming it and ``where``."""
    import pyarrow as pa

    if batch.schema.equals(schema):
        return batch
    extra = [n for n in batch.schema.names if n not in schema.names]
    if extra:
        raise InputError(f"{where}: column {extra[0]!r} first appears here, after the first rows fixed the columns of "
                         f"the output ({', '.join(schema.names)}); give every row the same keys, or write Parquet parts")
    cols = []
    for fld in schema:
        i = batch.schema.get_field_index(fld.name)
        if i < 0:
            cols.append(pa.nulls(batch.num_rows, fld.type))
            continue
        col, t = batch.column(i), batch.schema.field(i).type
        if t != fld.type:
            if not _widens(t, fld.type):
                raise InputError(f"{where}: column {fld.name!r} holds {t} values here, but {fld.type} in the first rows, "
                                 "which fixed its type; make them one type")
            col = col.cast(fld.type)
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, schema=schema)


# ------------------------------------------------------------------------------------------------ writing


class _BatchWriter:
    """Writes batches of one schema to a binary file object in a format (Parquet, CSV, JSONL, JSON)."""

    def __init__(self, f: HashingWriter, fmt: str, schema: pa.Schema):
        self.f, self.fmt, self.schema, self.first = f, fmt, schema, True
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self.w: Any = pq.ParquetWriter(f, schema)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            self.w = pcsv.CSVWriter(f, schema)
        elif fmt == "json":
            f.write(b"[")

    def write(self, batch: pa.RecordBatch) -> None:
        if self.fmt in ("parquet", "csv"):
            self.w.write_batch(batch)
            return
        rows = batch.to_pylist()
        if self.fmt == "jsonl":
            self.f.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows).encode())
        else:
            for r in rows:
                self.f.write((b"" if self.first else b", ") + json.dumps(r, ensure_ascii=False, default=str).encode())
                self.first = False

    def close(self) -> None:
        if self.fmt in ("parquet", "csv"):
            self.w.close()
        elif self.fmt == "json":
            self.f.write(b"]")

    def abort(self) -> None:
        """Close after an error (the file is discarded by its owner)."""
        if self.fmt in ("parquet", "csv"):
            try:
                self.w.close()
            except Exception:  # noqa: BLE001 - the error that made us stop is the one to report
                pass


def output_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of an output file written from a stream whose first batch had ``schema``: columns null in
    every row of it (a key that appears later) are written as text, the most common type of such columns."""
    import pyarrow as pa

    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema], metadata=schema.metadata)


class BatchFile:
    """One output file (format from the suffix) written batch by batch and put in place atomically
    (:class:`stagekit.files.AtomicFile`): every batch is conformed to ``schema`` (default: the first batch's,
    see :func:`conform`; ``where()`` names the batch in its errors). :meth:`close` puts the file in place;
    :meth:`abort` (or an error in :meth:`write`) leaves ``path`` as it was. What :func:`write_batches` and a
    run directory's streamed tables write through."""

    def __init__(self, path: str | os.PathLike[str], *, schema: pa.Schema | None = None,
                 where: Callable[[], str] | None = None):
        self.path = Path(path)
        self.fmt, self.schema, self.where, self.rows = output_format(self.path), schema, where, 0
        self._file = AtomicFile(self.path)
        self._w: _BatchWriter | None = None

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        import pyarrow as pa

        try:
            if self._w is None:
                self._w = _BatchWriter(self._file, self.fmt, self.schema or batch.schema)
            for b in batch.to_batches() if isinstance(batch, pa.Table) else [batch]:
                self._w.write(conform(b, self._w.schema, self.where() if self.where else str(self.path)))
                self.rows += b.num_rows
        except BaseException:
            self.abort()
            raise

    def close(self) -> Written:
        """Finish the file and put it in place; its path, size and sha256."""
        try:
            if self._w is None and self.schema is not None:
                self._w = _BatchWriter(self._file, self.fmt, self.schema)
            if self._w is not None:
                self._w.close()
        except BaseException:
            self.abort()
            raise
        return self._file.commit()

    def abort(self) -> None:
        if self._w is not None:
            self._w.abort()
            self._w = None
        self._file.abort()


def write_batches(path: str | os.PathLike[str], batches: Iterable[pa.RecordBatch], *, schema: pa.Schema | None = None,
                  where: Callable[[], str] | None = None) -> Written:
    """Write a stream of batches to one file (format from the suffix), atomically, through a
    :class:`BatchFile`. Every batch is conformed to ``schema`` (default: the first batch's; see :func:`conform`,
    ``where()`` names the batch in its errors). An error while the batches are made leaves ``path`` as it was."""
    out = BatchFile(path, schema=schema, where=where)
    try:
        for b in batches:
            out.write(b)
    except BaseException:
        out.abort()
        raise
    return out.close()


def table_batches(table: pa.Table, rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """A table's rows as record batches of at most ``rows`` rows (default: about :data:`BATCH_BYTES`)."""
    if table.num_rows == 0:
        return iter(())
    per = rows or max(1, int(BATCH_BYTES * table.num_rows / max(table.nbytes, 1)))
    return iter(table.to_batches(max_chunksize=per))



def read_table(path: str | os.PathLike[str], *, text: Sequence[str] = ()) -> pa.Table:
    """Read a JSONL, JSON (a list of objects), Parquet or CSV file, a directory or glob of such parts, or a
    directory saved by ``datasets.Dataset.save_to_disk``, into one Arrow table (a :class:`Source` read
    whole; ``text``: columns read as text, numbers as written).

    A malformed JSONL line raises :class:`InputError` naming the file and the line number.
    """
    return Source(path, text=text).read_all()


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` to ``path`` (format from the suffix) with :func:`stagekit.files.atomic_write`."""
    return write_batches(path, table_batches(table), schema=table.schema).path
