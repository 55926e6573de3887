"""The run directory of ``stagekit run`` and ``stagekit plan``, and its manifest.

Layout (paths relative to the directory)::

    manifest.json  report.html  problems.parquet (run)
    round-<r>/<table>.parquet                  a table written in one piece
    round-<r>/<table>/part-<i>.parquet          a table written in parts (a streaming step)
    round-<r>/<dir>/                             a directory output (a trained model)

:class:`Manifest` is the typed form of ``manifest.json``, the interface between the runner, ``stagekit plan``,
the report and the CLI; :func:`read_manifest` and :func:`write_manifest` are the only code that reads or
writes it. Every output a step writes is recorded with its row count, size and sha256 (:class:`Output`,
per part for a table in parts), so a reader can check that the table it reads is the one the step wrote
(:meth:`RunDir.verify`).

One process at a time: :meth:`RunDir.lock` takes an advisory lock on the directory (``flock``), held until
released or until the process ends, however it ends.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagekit.io import TEMP_SUFFIX, InputError, atomic_write, fsync_dir, sha256_file

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ROUND_TABLES", "SCHEMA_VERSION", "CorruptOutput", "Manifest", "Output", "Part", "RoundSummary", "RunDir",
    "RunDirBusy", "RunLock", "SourceRecord", "StepRecord", "package_versions", "read_manifest", "summarize_round",
    "write_manifest",
]

#: The manifest's schema version: 2 adds per-output rows/size/sha256, each step's inputs and reads, and the
#: sources. A manifest without a version is version 1 (stagekit before the runner): readable, not resumable.
SCHEMA_VERSION = 2

#: Tables counted in a round's summary (``RoundSummary.rows``), in this order.
ROUND_TABLES = ("rollouts", "stats", "sft", "rl", "drop", "sft_set", "rl_set", "bridge", "sft_train", "rl_train",
                "rl_rollouts", "cft", "eval_scores")


class RunDirBusy(RuntimeError):
    """Another process holds the run directory's lock."""


class CorruptOutput(InputError):
    """An output's contents differ from what its step recorded (a file changed or replaced since)."""


# ------------------------------------------------------------------------------------------------ records


@dataclass
class Part:
    """One part of a table written in parts: its file (relative to the run directory), rows, size, sha256."""

    path: str
    rows: int
    size: int
    sha256: str


@dataclass
class Output:
    """One output of a step. ``kind``: ``table`` (one Parquet file), ``parts`` (a directory of Parquet parts,
    ``sha256`` over the parts' hashes in order) or ``dir`` (a directory that is not a table: ``rows`` and
    ``sha256`` are None, ``size`` the sum of its files)."""

    path: str
    kind: str = "table"
    rows: int | None = None
    size: int = 0
    sha256: str | None = None
    parts: list[Part] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "kind": self.kind, "rows": self.rows, "size": self.size,
                             "sha256": self.sha256}
        if self.parts:
            d["parts"] = [vars(p) for p in self.parts]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Output:
        return cls(path=d["path"], kind=d.get("kind", "table"), rows=d.get("rows"), size=d.get("size", 0),
                   sha256=d.get("sha256"), parts=[Part(**p) for p in d.get("parts", [])])


#: Keys of a step record's JSON form that are not notes.
_STEP_KEYS = ("key", "outputs", "written", "seconds", "cpu_seconds", "inputs", "reads", "version", "removed")


@dataclass
class StepRecord:
    """A finished step: its key, what it wrote (by output name), how long it took (wall and CPU time), the
    keys of its inputs and the config values it read (from which the runner derived the key), the step's
    code version, and notes (SFT losses, GRPO rewards, why it was skipped, counts). In JSON the notes sit beside the other
    fields, and ``outputs`` lists the written paths."""

    key: str
    written: dict[str, Output] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float | None = None  # the process's CPU time (all threads) during the step
    inputs: dict[str, str | None] = field(default_factory=dict)
    reads: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    notes: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        return [o.path for o in self.written.values()]

    def to_json(self) -> dict[str, Any]:
        clash = set(self.notes) & set(_STEP_KEYS)
        if clash:
            raise ValueError(f"step notes may not be named {', '.join(sorted(clash))}")
        d: dict[str, Any] = {"key": self.key, "outputs": self.outputs,
                             "written": {n: o.to_json() for n, o in self.written.items()},
                             "seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "inputs": self.inputs,
                             "reads": self.reads,
                             "version": self.version, **self.notes}
        if self.removed:
            d["removed"] = self.removed
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StepRecord:
        written = {n: Output.from_json(o) for n, o in d.get("written", {}).items()}
        order = {p: i for i, p in enumerate(d.get("outputs", []))}  # the write order (JSON sorts the keys)
        written = dict(sorted(written.items(), key=lambda kv: order.get(kv[1].path, len(order))))
        if not written:  # version 1: paths only
            written = {Path(p).name.removesuffix(".parquet"): Output(p, kind="table" if p.endswith(".parquet") else "dir")
                       for p in d.get("outputs", [])}
        return cls(key=d["key"], written=written, seconds=d.get("seconds", 0.0), cpu_seconds=d.get("cpu_seconds"),
                   inputs=dict(d.get("inputs", {})),
                   reads=dict(d.get("reads", {})), version=d.get("version", 1),
                   notes={k: v for k, v in d.items() if k not in _STEP_KEYS}, removed=list(d.get("removed", [])))


@dataclass
class SourceRecord:
    """An input of the run that is not a step (the problems, given rollouts, the initial student): its key
    (a hash of its contents) and the config values it was read with."""

    key: str
    reads: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoundSummary:
    """A round at a glance: rows of each table (:data:`ROUND_TABLES` written by this run's steps), the
    Bridge problems, the mean pass rate, and (``stagekit run``) the round's step records by short name."""

    round: int
    rows: dict[str, int]
    bridge: int
    pass_rate_mean: float
    steps: dict[str, StepRecord] | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"round": self.round, "rows": self.rows, "bridge": self.bridge,
                             "pass_rate_mean": self.pass_rate_mean}
        if self.steps is not None:
            d["steps"] = {k: v.to_json() for k, v in self.steps.items()}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RoundSummary:
        steps = d.get("steps")
        return cls(round=d["round"], rows=dict(d.get("rows", {})), bridge=d.get("bridge", 0),
                   pass_rate_mean=d.get("pass_rate_mean", 0.0),
                   steps=None if steps is None else {k: StepRecord.from_json(v) for k, v in steps.items()})


@dataclass
class Manifest:
    """``manifest.json``: what a run directory holds and how it was made.

    ``command`` (``run`` or ``plan``), ``config`` (the options, as JSON), ``versions`` (packages),
    ``inputs`` (input files and their sha256), ``sources`` and ``steps`` (the runner's records, by full step
    name such as ``round-0/plan``), ``rounds`` (summaries, written when the command finishes), and per
    command: ``problems`` (run: rows, content key, where they came from), ``moved``, ``heldout`` (the held-out
    evaluation: :func:`stagekit.heldout.heldout_summary`), ``recipe`` and ``student`` (run), ``engine`` (plan).
    Keys this version does not know are kept in ``extra`` and written back."""

    command: str
    schema_version: int = SCHEMA_VERSION
    created: str | None = None
    updated: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    sources: dict[str, SourceRecord] = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    rounds: list[RoundSummary] = field(default_factory=list)
    problems: dict[str, Any] | None = None
    moved: dict[str, Any] | None = None
    heldout: dict[str, Any] | None = None
    recipe: str | None = None
    student: str | None = None
    engine: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {**self.extra, "command": self.command, "schema_version": self.schema_version,
                             "config": self.config, "versions": self.versions, "inputs": self.inputs,
                             "sources": {k: vars(v) for k, v in self.sources.items()},
                             "steps": {k: v.to_json() for k, v in self.steps.items()}}
        if self.rounds:
            d["rounds"] = [r.to_json() for r in self.rounds]
        for name in ("created", "updated", "problems", "moved", "heldout", "recipe", "student", "engine"):
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Manifest:
        known = {f.name for f in fields(cls)}
        return cls(
            command=d.get("command", ""), schema_version=d.get("schema_version", 1), created=d.get("created"),
            updated=d.get("updated"), config=dict(d.get("config", {})), versions=dict(d.get("versions", {})),
            inputs=dict(d.get("inputs", {})),
            sources={k: SourceRecord(**v) for k, v in d.get("sources", {}).items()},
            steps={k: StepRecord.from_json(v) for k, v in d.get("steps", {}).items()},
            rounds=[RoundSummary.from_json(r) for r in d.get("rounds", [])], problems=d.get("problems"),
            moved=d.get("moved"), heldout=d.get("heldout"), recipe=d.get("recipe"), student=d.get("student"),
            engine=d.get("engine"),
            extra={k: v for k, v in d.items() if k not in known},
        )

    # Read access in the JSON form's terms (``m["rounds"][0]["rows"]``), for callers that took the dict.
    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()


def package_versions() -> dict[str, str]:
    """The versions a manifest records: stagekit, Python, and the packages that shape results."""
    import platform
    from importlib import metadata

    import stagekit

    out = {"stagekit": stagekit.__version__, "python": platform.python_version()}
    for dist in ("pyarrow", "torch", "transformers", "trl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """The manifest at ``path`` (a ``manifest.json`` or the run directory holding it). A missing or
    unreadable manifest, or one written by a newer stagekit, is an :class:`InputError` naming the file."""
    p = Path(path)
    if p.is_dir() or not p.name.endswith(".json"):
        p = p / "manifest.json"
    if not p.parent.is_dir():
        raise InputError(f"{p.parent}: no such directory")
    if not p.is_file():
        raise InputError(f"{p.parent}: not a stagekit run directory (no manifest.json)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{p}: not a readable manifest ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: not a readable manifest (a JSON object expected)")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(f"{p}: manifest schema version {version!r} was written by a newer stagekit "
                         f"(this one reads up to {SCHEMA_VERSION})")
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, AttributeError) as e:
        raise InputError(f"{p}: not a readable manifest ({type(e).__name__}: {e})") from None


def write_manifest(path: str | os.PathLike[str], manifest: Manifest) -> None:
    """Write ``manifest`` as ``path`` (a ``manifest.json`` or the run directory), atomically."""
    p = Path(path)
    if p.is_dir() or not p.name.endswith(".json"):
        p = p / "manifest.json"
    text = json.dumps(manifest.to_json(), indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(p, text)


# ------------------------------------------------------------------------------------------------ the directory


class RunLock:
    """An advisory lock (``flock``) on a directory, held through an open descriptor of it: released by
    :meth:`release`, and by the kernel when the process ends in any way (``kill -9`` included)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: one process at a time is up to the user
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirBusy(f"{path}: another stagekit process is using this directory (it holds the directory's "
                             "lock); wait for it to finish, or choose another output directory") from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None


class RunDir:
    """A run directory: paths, tables in and out (every file through :func:`stagekit.io.atomic_write`), the
    manifest, the lock and the clean-up of what a killed process left."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._verified: set[tuple[str, str, int, int]] = set()

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def round_dir(self, round_: int | None) -> Path:
        return self.path if round_ is None else self.path / f"round-{round_}"

    def rel(self, p: Path) -> str:
        return p.relative_to(self.path).as_posix()

    def table_path(self, round_: int | None, name: str) -> Path:
        """The file of a table written in one piece (``round-<r>/<name>.parquet``)."""
        return self.round_dir(round_) / f"{name}.parquet"

    def parts_path(self, round_: int | None, name: str) -> Path:
        """The directory of a table written in parts (``round-<r>/<name>/``)."""
        return self.round_dir(round_) / name

    # -- manifest --------------------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        return read_manifest(self.manifest_path)

    def write_manifest(self, manifest: Manifest) -> None:
        write_manifest(self.manifest_path, manifest)

    # -- tables ----------------------------------------------------------------------------------------

    def read_table(self, round_: int | None, name: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """A table of the directory (one file, or the parts of a table written in parts), or None; only
        ``columns`` when given."""
        import pyarrow.parquet as pq

        cols = None if columns is None else list(columns)
        p = self.table_path(round_, name)
        if p.is_file():
            return pq.read_table(p, columns=cols)
        d = self.parts_path(round_, name)
        parts = sorted(d.glob("part-*.parquet")) if d.is_dir() else []
        if parts:
            import pyarrow as pa

            return pa.concat_tables([pq.read_table(x, columns=cols) for x in parts], promote_options="default")
        return None

    def write_table(self, round_: int | None, name: str, table: pa.Table) -> Output:
        """Write a table in one piece (replacing a parts directory of the same name) and describe it."""
        import pyarrow.parquet as pq

        p = self.table_path(round_, name)
        w = atomic_write(p, lambda f: pq.write_table(table, f))
        _remove(self.parts_path(round_, name))
        return Output(self.rel(p), "table", table.num_rows, w.size, w.sha256)

    def write_parts(self, round_: int | None, name: str, tables: Iterable[pa.Table | pa.RecordBatch]) -> Output:
        """Write a table as parts, one per item of ``tables`` (a stream of tables or record batches), into
        ``round-<r>/<name>/part-<i>.parquet``. The parts go to a hidden temporary directory that replaces
        the previous one when the last part is written, so a reader sees all the old parts or all the new."""
        import pyarrow as pa

        w = self.parts_writer(round_, name)
        try:
            for item in tables:
                batches = item.to_batches() if isinstance(item, pa.Table) else [item]
                for batch in batches or [pa.RecordBatch.from_pylist([], schema=item.schema)]:
                    w.write(batch)
                w.files.next_part()
        except BaseException:
            w.discard()
            raise
        return w.install()

    def write_batches(self, round_: int | None, name: str, batches: Iterable[pa.RecordBatch]) -> Output:
        """Write a table in one piece from a stream of record batches (one row group each; columns of later
        batches conformed to the first's, see :func:`stagekit.io.write_batches`) and describe it."""
        w = self.table_writer(round_, name)
        try:
            for b in batches:
                w.write(b)
        except BaseException:
            w.discard()
            raise
        return w.install()

    def table_writer(self, round_: int | None, name: str) -> TableWriter:
        """A writer of the table ``name`` in one piece, batch by batch (see :class:`TableWriter`)."""
        return TableWriter(self, self.table_path(round_, name), self.parts_path(round_, name))

    def parts_writer(self, round_: int | None, name: str) -> PartsWriter:
        """A writer of the table ``name`` in parts (see :class:`PartsWriter`)."""
        return PartsWriter(self, self.parts_path(round_, name), self.table_path(round_, name))

    def install_dir(self, round_: int | None, name: str, src: Path) -> Output:
        """Move the directory ``src`` (written elsewhere in the run directory, e.g. a trainer's scratch
        directory) into place as ``round-<r>/<name>/``, replacing what was there."""
        target = self.round_dir(round_) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace_dir(src, target)
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        return Output(self.rel(target), "dir", None, size, None)

    def remove(self, rel: str) -> None:
        _remove(self.path / rel)

    def link_from(self, other: RunDir, rel: str) -> None:
        """Put ``other``'s file ``rel`` at ``rel`` here: a hard link (a copy where links are not possible),
        made under a temporary name and renamed into place. A later write here replaces the link (writes
        are renames), so ``other``'s file is never changed through it."""
        src, dst = other.path / rel, self.path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def present(self, out: Output) -> bool:
        """Whether an output is still there as recorded (files present with their recorded sizes; a
        directory output present). Cheap: contents are checked by :meth:`verify`."""
        p = self.path / out.path
        if out.kind == "dir":
            return p.is_dir()
        if out.kind == "parts":
            return p.is_dir() and all((self.path / x.path).is_file() and (self.path / x.path).stat().st_size == x.size
                                      for x in out.parts)
        return p.is_file() and (not out.size or p.stat().st_size == out.size)

    def verify(self, out: Output, step: str = "", *, rerun: str = "") -> None:
        """Raise :class:`CorruptOutput` unless the output's files hold exactly what was recorded (sha256):
        the message names the file, the step that wrote it and (``rerun``) the command that makes it again.
        A file verified once by this object with the same size and modification time is not hashed again."""
        where = f" (written by step {step}; re-run {rerun or 'it'})" if step else ""
        if out.kind == "dir":
            if not (self.path / out.path).is_dir():
                raise CorruptOutput(f"{self.path / out.path}: missing{where}")
            return
        files = [(out.path, out.sha256)] if out.kind == "table" else [(x.path, x.sha256) for x in out.parts]
        if out.kind == "parts":
            d = self.path / out.path
            found = sorted(x.relative_to(self.path).as_posix() for x in d.glob("part-*.parquet")) if d.is_dir() else []
            extra = sorted(set(found) - {rel for rel, _ in files})
            if extra:
                raise CorruptOutput(f"{self.path / extra[0]}: a part that its table's record does not list{where}")
        for rel, digest in files:
            p = self.path / rel
            try:
                st = p.stat()
            except OSError:
                raise CorruptOutput(f"{p}: missing{where}") from None
            if not digest:
                continue
            stamp = (rel, digest, st.st_size, st.st_mtime_ns)
            if stamp in self._verified:
                continue
            if sha256_file(p) != digest:
                raise CorruptOutput(f"{p}: its contents differ from what was recorded{where}")
            self._verified.add(stamp)

    def checked(self, manifest: Manifest, round_: int | None, name: str) -> Output | None:
        """The table ``name`` of a round as the manifest records it, its files checked against their sha256
        (:meth:`verify`); None when it is neither recorded nor there. A table that is there but that no
        finished step recorded (an interrupted command wrote it) is a :class:`CorruptOutput` too. The one
        way readers of a finished directory (``stagekit report``) reach its tables."""
        rels = {self.rel(self.table_path(round_, name)), self.rel(self.parts_path(round_, name))}
        rerun = f"`stagekit {manifest.command or 'plan'}`"
        for step, rec in manifest.steps.items():
            for out in rec.written.values():
                if out.path in rels and out.kind != "dir":
                    self.verify(out, step, rerun=rerun)
                    return out
        for rel in sorted(rels):
            p = self.path / rel
            if p.is_file() or (p.is_dir() and any(p.glob("part-*.parquet"))):
                raise CorruptOutput(f"{p}: no finished step of {self.manifest_path} records it (left by an "
                                    f"interrupted command?); re-run {rerun}")
        return None

    def open_table(self, out: Output, **options: Any) -> Any:
        """A :class:`stagekit.io.Source` over a recorded table (``options`` are its)."""
        from stagekit.io import Source

        return Source(self.path / out.path, **options)

    # -- process ---------------------------------------------------------------------------------------

    def lock(self) -> RunLock:
        """Take the directory's lock (the directory must exist); raises :class:`RunDirBusy` when another
        process holds it. Release it with ``.release()`` (or let the process end)."""
        return RunLock(self.path)

    def temporaries(self) -> list[Path]:
        """Files and directories that a killed writer left behind (``.<name>.<random>.sk-tmp``, trainers'
        ``.scratch-*`` directories)."""
        found = [p for p in self.path.rglob(f".*{TEMP_SUFFIX}")]
        found += [p for p in self.path.rglob(".scratch-*") if p.is_dir()]
        return sorted(set(found))

    def clean_temporaries(self) -> list[Path]:
        """Remove :meth:`temporaries` (only while holding the lock: no other writer can be using them)."""
        removed = []
        for p in self.temporaries():
            if p.exists():
                _remove(p)
                removed.append(p)
        return removed


#: Arrow bytes per part of a table written in parts (a new part starts past it): about 256k rows of 1 kB.
PART_BYTES = 256 << 20


class PartFiles:
    """Parquet parts written batch by batch into a directory, named ``<prefix><i>.parquet`` (``i`` from
    ``first``, five digits): a part ends when it reaches ``max_bytes`` of Arrow data, when a batch of another
    schema comes (parts need not agree; readers unify them) or on :meth:`next_part`. Each part's rows, size and
    sha256 are computed as it is written (:class:`stagekit.io.NewFile`). Used in this process and by remote
    workers writing into a shared directory."""

    def __init__(self, directory: Path, prefix: str = "part-", *, max_bytes: int = PART_BYTES, first: int = 0):
        self.dir, self.prefix, self.max_bytes, self.next = Path(directory), prefix, max_bytes, first
        self.done: list[tuple[str, int, int, str]] = []
        self._file: Any = None
        self._writer: Any = None
        self._rows = self._bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        import pyarrow.parquet as pq

        from stagekit.io import NewFile

        if self._writer is not None and (self._bytes >= self.max_bytes or batch.schema != self._writer.schema):
            self.next_part()
        if self._writer is None:
            self._file = NewFile(self.dir / f"{self.prefix}{self.next:05d}.parquet")
            self.next += 1
            self._writer = pq.ParquetWriter(self._file, batch.schema)
        self._writer.write_batch(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes

    def next_part(self) -> None:
        """End the part being written (the next batch starts a new one)."""
        if self._writer is None:
            return
        self._writer.close()
        w = self._file.finish()
        self.done.append((w.path.name, self._rows, w.size, w.sha256))
        self._file = self._writer = None
        self._rows = self._bytes = 0

    def close(self) -> list[tuple[str, int, int, str]]:
        """End the last part; the parts written: (file name, rows, size, sha256)."""
        self.next_part()
        return self.done

    def abort(self) -> None:
        if self._file is not None:
            self._file.abort()
        self._file = self._writer = None


class TableWriter:
    """A table of a run directory written in one piece (``round-<r>/<name>.parquet``) batch by batch, one row
    group each (later batches conformed to the first's columns, :class:`stagekit.io.BatchFile`), into a
    temporary file: :meth:`install` puts it in place (replacing a parts directory of the same name) and
    returns the table's :class:`Output`; :meth:`discard` leaves the directory as it was."""

    def __init__(self, run: RunDir, target: Path, parts: Path):
        from stagekit.io import BatchFile

        self.run, self.parts = run, parts
        self.file = BatchFile(target)

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.file.write(batch)

    def install(self) -> Output:
        w = self.file.close()
        _remove(self.parts)
        return Output(self.run.rel(w.path), "table", self.file.rows, w.size, w.sha256)

    def discard(self) -> None:
        self.file.abort()


class PartsWriter:
    """A table of a run directory written in parts (``round-<r>/<name>/part-*.parquet``): the parts go into a
    hidden temporary directory (``tmp``; a killed process's is removed by the next run), written here through
    :attr:`files` or by other processes (:meth:`add` records theirs), and :meth:`install` puts the directory
    in place in one rename and returns the table's :class:`Output`."""

    def __init__(self, run: RunDir, target: Path, single: Path):
        self.run, self.target, self.single = run, target, single
        target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        self.tmp.mkdir()
        self.files = PartFiles(self.tmp)
        self.extra: list[tuple[str, int, int, str]] = []

    def write(self, batch: pa.RecordBatch) -> None:
        self.files.write(batch)

    def add(self, parts: Iterable[tuple[str, int, int, str]]) -> None:
        """Parts written into :attr:`tmp` by others: (file name, rows, size, sha256) each."""
        self.extra.extend(parts)

    def install(self) -> Output:
        import hashlib

        found = sorted(self.files.close() + self.extra)
        names = sorted(x.name for x in self.tmp.iterdir())
        if names != [n for n, *_ in found]:
            missing = sorted(set(n for n, *_ in found) - set(names)) or sorted(set(names) - set(n for n, *_ in found))
            raise RuntimeError(f"{self.tmp}: the parts written and the parts recorded differ ({', '.join(missing[:3])})")
        try:
            _replace_dir(self.tmp, self.target)
        except BaseException:
            self.discard()
            raise
        self.single.unlink(missing_ok=True)
        parts = [Part(self.run.rel(self.target / n), rows, size, sha) for n, rows, size, sha in found]
        digest = hashlib.sha256("".join(f"{p.path}:{p.sha256}\n" for p in parts).encode()).hexdigest()
        return Output(self.run.rel(self.target), "parts", sum(p.rows for p in parts), sum(p.size for p in parts), digest,
                      parts)

    def discard(self) -> None:
        self.files.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _replace_dir(src: Path, target: Path) -> None:
    """Put directory ``src`` at ``target``: the old ``target`` is renamed aside first (one rename, so there
    is never a half-removed directory at ``target``), then removed."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        os.replace(target, old)
    os.replace(src, target)
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def summarize_round(run: RunDir, round_: int, steps: Mapping[str, StepRecord], *, with_steps: bool = True) -> RoundSummary:
    """The summary of round ``round_`` from the records of the steps this run ran or found done (full names,
    ``round-<r>/<step>``): rows of each :data:`ROUND_TABLES` table they wrote, and from the round's
    ``stats`` table the Bridge problems and the mean pass rate. The one place a summary is computed."""
    import pyarrow.compute as pc

    prefix = f"round-{round_}/"
    mine = {name[len(prefix):]: rec for name, rec in steps.items() if name.startswith(prefix)}
    written = {n: o for rec in mine.values() for n, o in rec.written.items()}
    rows = {n: int(written[n].rows or 0) for n in ROUND_TABLES if n in written and written[n].rows is not None}
    stats = run.read_table(round_, "stats", columns=["bridge", "pass_rate"])
    bridge = int(pc.sum(stats["bridge"]).as_py() or 0) if stats is not None else 0
    mean = float(pc.mean(stats["pass_rate"]).as_py() or 0.0) if stats is not None else 0.0
    return RoundSummary(round_, rows, bridge, mean, mine if with_steps else None)
