r"""The step runner: declared steps, keys derived from the declarations, resume, the manifest, one run at a
time per directory.

A step declares what it is made of, and the runner derives everything else from that::

    @step("plan", reads=("scheme", "k"), takes=("measure", "problems"), writes=("stats", "sft", "rl", "drop"))
    def plan(ctx: StepContext) -> None:
        tables = ctx.engine.plan(ctx.read("rollouts"), ..., ctx.value("problems"))
        for name in ("stats", "sft", "rl", "drop"):
            ctx.write(name, tables[name])

- ``reads``: the config fields the step's results depend on. The step sees the config through a view that
  refuses any other result-affecting field (:class:`UndeclaredRead`), so a key cannot leave out an option
  the step uses; fields that change no result (``out``, ``progress``: the runner's ``free`` fields) are
  readable by every step.
- ``takes``: its inputs by name: earlier steps (:class:`Done`) and values that are not steps (:class:`Value`:
  the problems, a student), each with a key. A step reads tables only through ``ctx.read(name)``, which
  finds the input step that wrote ``name``.
- ``writes``: the outputs it may write (tables, and directories named with a trailing ``/``).
- ``version``: the step's code version; bump it when the code changes what the step computes.

``Runner.run(step, round=r, inputs={...})`` derives the key (a hash of the step's name and version, the
values of its ``reads`` and its inputs' keys), skips the step when the manifest holds it with that key and
its outputs are present, and otherwise runs it, timing it and recording its outputs (rows, size, sha256),
notes, inputs and reads in the manifest, which is written (atomically) after every step. A step's record is
removed before it runs, so a step interrupted half-way is run again.

The runner holds the run directory's lock from construction to :meth:`Runner.close` (or the end of the
process), refuses a directory that is not empty and not the same command's output, and removes the
temporary files a killed process left.
"""

from __future__ import annotations

import contextlib
import os
import datetime as _dt
import functools
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stagekit.io import TEMP_SUFFIX, InputError
from stagekit.rundir import (SCHEMA_VERSION, CorruptOutput, Manifest, Output, PartsWriter, RunDir, RunLock, SourceRecord,
                             StepRecord, TableWriter)

if TYPE_CHECKING:
    import pyarrow as pa

    from stagekit.engine import Engine
    from stagekit.io import Source as DataSource

#: A writer that a step's block puts in place or discards (:class:`~stagekit.rundir.TableWriter`,
#: :class:`~stagekit.rundir.PartsWriter`).
W = TypeVar("W", TableWriter, PartsWriter)

__all__ = [
    "ConfigView", "Done", "Log", "Ref", "Runner", "Source", "Step", "StepContext", "UndeclaredRead", "Value", "field_names",
    "source", "stable_hash", "step", "table_hash",
]


def stable_hash(*parts: Any) -> str:
    """A short hash (16 hex digits) of JSON-able parts, the same in every process and on every machine."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def table_hash(table: pa.Table) -> str:
    """A content hash of a table (its Arrow IPC serialization)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Log:
    """Timestamped progress lines on stderr (tqdm bars of generation and training go there too)."""

    def __init__(self, enabled: bool = True):
        self.t0 = time.perf_counter()
        self.enabled = enabled

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ config views


def field_names(config: Any) -> tuple[str, ...]:
    """The field names of a config dataclass (class or instance)."""
    return tuple(f.name for f in fields(config))


class UndeclaredRead(RuntimeError):
    """A step read a config field that changes results without declaring it in ``reads``."""


class ConfigView:
    """A config as one step sees it: its declared fields and the fields that change no result; any other
    field raises :class:`UndeclaredRead`. Methods and properties of the config run against the view, so
    what they read is checked too (``cfg.cuts()`` reads ``bridge_cuts``). Picklable (Ray actors get it)."""

    __slots__ = ("_cfg", "_allowed", "_where", "_fields", "accessed")

    def __init__(self, cfg: Any, allowed: Iterable[str], where: str, free: Iterable[str] = ()):
        object.__setattr__(self, "_cfg", cfg)
        object.__setattr__(self, "_allowed", frozenset(allowed) | frozenset(free))
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_fields", frozenset(field_names(cfg)))
        object.__setattr__(self, "accessed", set())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        cfg = self._cfg
        if name in self._fields:
            if name not in self._allowed:
                raise UndeclaredRead(f"{self._where} reads the option {name!r} without declaring it: add it to the "
                                     "step's reads (or declare the option as changing no result)")
            self.accessed.add(name)
            return getattr(cfg, name)
        attr = getattr(type(cfg), name)
        if isinstance(attr, property):
            return attr.fget(self)  # type: ignore[misc]
        if callable(attr) and not isinstance(attr, (staticmethod, classmethod, type)):
            return functools.partial(attr, self)
        return getattr(cfg, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a config view is read-only")

    def fork(self) -> ConfigView:
        """The same view with its own record of the fields read (``accessed``)."""
        return ConfigView(self._cfg, self._allowed, self._where)

    def __reduce__(self) -> Any:
        return (ConfigView, (self._cfg, self._allowed, self._where))

    def __repr__(self) -> str:
        return f"ConfigView({self._where}: {', '.join(sorted(self._allowed & self._fields))})"


# ------------------------------------------------------------------------------------------------ declarations


@dataclass(frozen=True)
class Step:
    """A declared step (see the module docstring); made with :func:`step`."""

    name: str
    run: Callable[[StepContext], None] = field(repr=False, compare=False)
    reads: tuple[str, ...] = ()
    takes: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    version: int = 1
    doc: str = field(default="", repr=False, compare=False)

    def full_name(self, round_: int | None) -> str:
        return self.name if round_ is None else f"round-{round_}/{self.name}"


def step(name: str, *, reads: Iterable[str] = (), takes: Iterable[str] = (), writes: Iterable[str] = (),
         version: int = 1) -> Callable[[Callable[[StepContext], None]], Step]:
    """Declare a step: ``@step("plan", reads=(...), takes=(...), writes=(...))`` on ``def f(ctx): ...``."""

    def wrap(fn: Callable[[StepContext], None]) -> Step:
        return Step(name, fn, tuple(reads), tuple(takes), tuple(writes), version, (fn.__doc__ or "").strip())

    return wrap


@dataclass(frozen=True)
class Source:
    """A declared input that is not a step (the problems, the given rollouts, the initial student): the
    config fields it is made from, and the function that makes it from a :class:`ConfigView` of them,
    returning ``(value, key)`` with ``key`` a hash of the value's contents."""

    name: str
    load: Callable[[Any], tuple[Any, str]] = field(repr=False, compare=False)
    reads: tuple[str, ...] = ()


def source(name: str, *, reads: Iterable[str] = ()) -> Callable[[Callable[[Any], tuple[Any, str]]], Source]:
    """Declare a source: ``@source("problems", reads=(...))`` on ``def f(cfg) -> (value, key)``."""

    def wrap(fn: Callable[[Any], tuple[Any, str]]) -> Source:
        return Source(name, fn, tuple(reads))

    return wrap


@dataclass(frozen=True)
class Value:
    """An input that is not a step's output: a name, a key (a hash of what it is) and the value itself."""

    name: str
    key: str
    value: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Done:
    """A step that ran, or was found done: where its outputs are and what it recorded."""

    step: Step
    round: int | None
    key: str
    record: StepRecord = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.step.full_name(self.round)

    def wrote(self, output: str) -> bool:
        return output in self.record.written


Ref = Value | Done


# ------------------------------------------------------------------------------------------------ generators


class _GeneratorSlot:
    """The generator in use: built by the factory for a student, reused while the student stays the same.
    The config fields the factory read are read again through each later step's view, so a step that
    samples must declare them whether or not the generator was built in it."""

    def __init__(self, factory: Callable[[Any, Any], Any]):
        self.factory = factory
        self.ident: Any = None
        self.reads: tuple[str, ...] = ()
        self.generator: Any = None

    def get(self, spec: Any, cfg: ConfigView, log: Log) -> Any:
        if self.generator is not None and self.ident == spec:
            for name in self.reads:
                getattr(cfg, name)
            return self.generator
        self.generator = self.ident = None
        log(f"loading {getattr(spec, 'kind', '')} generator: {getattr(spec, 'model', spec)}")
        tracked = cfg.fork()
        gen = self.factory(spec, tracked)
        self.ident, self.reads, self.generator = spec, tuple(sorted(tracked.accessed)), gen
        return gen


def _build(factory: Callable[[Any, Any], Any], spec: Any, cfg: Any) -> Any:
    return factory(spec, cfg)


class GeneratorRef:
    """A zero-argument factory for an engine: in this process it returns the runner's cached generator;
    pickled (for remote workers) it becomes ``factory(spec, cfg)``, building one there."""

    def __init__(self, slot: _GeneratorSlot, spec: Any, cfg: ConfigView, log: Log):
        self.slot, self.spec, self.cfg, self.log = slot, spec, cfg, log

    def __call__(self) -> Any:
        return self.slot.get(self.spec, self.cfg, self.log)

    def __reduce__(self) -> Any:
        return (functools.partial, (_build, self.slot.factory, self.spec, self.cfg))


# ------------------------------------------------------------------------------------------------ context


class StepContext:
    """What a running step sees: ``cfg`` (its config view), ``round``, its inputs (``value``, ``read``),
    its outputs (``write``, ``write_parts``, ``install_dir``), ``note`` for facts kept in its record, and
    the runner's ``engine``, ``trainer``, ``log`` and extra ``args``."""

    def __init__(self, runner: Runner, step: Step, round_: int | None, inputs: Mapping[str, Ref | None],
                 args: Mapping[str, Any]):
        self.runner, self.step, self.round = runner, step, round_
        self.name = step.full_name(round_)
        self.inputs = dict(inputs)
        self.args = dict(args)
        self.cfg = ConfigView(runner.config, step.reads, f"step {self.name}", runner.free)
        self.notes: dict[str, Any] = {}
        self.written: dict[str, Output] = {}
        self.engine: Engine | None = runner.engine
        self.trainer: Any = runner.trainer
        self.log = runner.log

    @property
    def dir(self) -> RunDir:
        return self.runner.dir

    def note(self, **kw: Any) -> None:
        """Facts about the step, kept in its record (losses, rewards, why it was skipped, counts)."""
        self.notes.update(kw)

    def value(self, name: str) -> Any:
        """The value of an input that is not a step (a :class:`Value`)."""
        ref = self.inputs.get(name)
        if not isinstance(ref, Value):
            raise KeyError(f"step {self.name}: no value input named {name!r} (inputs: {', '.join(self.inputs)})")
        return ref.value

    def has(self, name: str) -> bool:
        """Whether the optional input ``name`` was given."""
        return self.inputs.get(name) is not None

    def _source_of(self, table: str) -> Done:
        found = [r for r in self.inputs.values() if isinstance(r, Done) and table in r.step.writes]
        if len(found) != 1:
            which = "none" if not found else ", ".join(r.name for r in found)
            raise RuntimeError(f"step {self.name} reads the table {table!r}: it must be written by exactly one of its "
                               f"inputs ({', '.join(self.inputs)}); written by {which}")
        return found[0]

    def _checked(self, table: str) -> tuple[Done, Output]:
        src = self._source_of(table)
        if not src.wrote(table):
            raise RuntimeError(f"step {self.name} reads {table!r}, which {src.name} did not write this time")
        out = src.record.written[table]
        self.dir.verify(out, src.name, rerun=f"the `stagekit {self.runner.command}` command")
        return src, out

    def read(self, table: str) -> pa.Table:
        """A table written by one of the step's input steps (checked against its record's sha256 first)."""
        src, _ = self._checked(table)
        t = self.dir.read_table(src.round, table)
        if t is None:
            raise RuntimeError(f"{self.dir.table_path(src.round, table)} is missing (written by {src.name})")
        return t

    def source(self, table: str, **options: Any) -> DataSource:
        """A table written by one of the step's input steps, to read in batches
        (:class:`stagekit.io.Source`; ``options`` are its), checked against its record's sha256 first."""
        from stagekit.io import Source

        _, out = self._checked(table)
        return Source(self.dir.path / out.path, **options)

    def _check_write(self, name: str, kind: str) -> None:
        declared = name + "/" if kind == "dir" else name
        if declared not in self.step.writes:
            raise RuntimeError(f"step {self.name} writes {declared!r}, which it does not declare "
                               f"(writes: {', '.join(self.step.writes)})")

    def write(self, name: str, table: pa.Table) -> None:
        """Write one of the step's tables (``round-<r>/<name>.parquet``)."""
        self._check_write(name, "table")
        self.written[name] = self.dir.write_table(self.round, name, table)

    def write_batches(self, name: str, batches: Iterable[pa.RecordBatch]) -> None:
        """Write one of the step's tables in one piece (``round-<r>/<name>.parquet``) from a stream of record
        batches, without holding the table (an error while the batches are made leaves no file)."""
        self._check_write(name, "table")
        self.written[name] = self.dir.write_batches(self.round, name, batches)

    def write_parts(self, name: str, tables: Iterable[pa.Table | pa.RecordBatch]) -> None:
        """Write one of the step's tables in parts (``round-<r>/<name>/part-<i>.parquet``), one per item."""
        self._check_write(name, "table")
        self.written[name] = self.dir.write_parts(self.round, name, tables)

    def writer(self, name: str) -> contextlib.AbstractContextManager[TableWriter]:
        """Write one of the step's tables in one piece (``round-<r>/<name>.parquet``), batch by batch
        (``w.write(batch)``; one row group each): the file is put in place when the block ends, and
        discarded if it raises."""
        self._check_write(name, "table")
        return self._installed(name, self.dir.table_writer(self.round, name))

    def parts(self, name: str) -> contextlib.AbstractContextManager[PartsWriter]:
        """Write one of the step's tables in parts, batch by batch (``w.write(batch)``; a new part every
        :data:`~stagekit.rundir.PART_BYTES`), or by other processes into ``w.tmp`` (``w.add(records)``): the
        parts are put in place when the block ends, and discarded if it raises."""
        self._check_write(name, "table")
        return self._installed(name, self.dir.parts_writer(self.round, name))

    @contextlib.contextmanager
    def _installed(self, name: str, w: W) -> Iterator[W]:
        try:
            yield w
        except BaseException:
            w.discard()
            raise
        self.written[name] = w.install()

    def install_dir(self, name: str, src: Path) -> None:
        """Move a directory the step made (under :meth:`scratch`) into place as ``round-<r>/<name>/``."""
        self._check_write(name, "dir")
        self.written[name] = self.dir.install_dir(self.round, name, src)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A hidden scratch directory in the round's directory, removed when the block ends (or is
        interrupted; a killed process's scratch is removed by the next run)."""
        parent = self.dir.round_dir(self.round)
        parent.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=".scratch-", dir=parent))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def generator(self, spec: Any) -> GeneratorRef:
        """A zero-argument factory of the generator for ``spec`` (a student), for ``engine.generate``: built
        by the runner's generator factory through this step's config view, and cached."""
        if self.runner.generators is None:
            raise RuntimeError(f"step {self.name} samples, but the runner has no generator factory")
        return GeneratorRef(self.runner.generators, spec, self.cfg, self.log)


# ------------------------------------------------------------------------------------------------ the runner


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


def config_json(config: Any) -> dict[str, Any]:
    """A config dataclass as JSON (tuples as lists)."""
    if is_dataclass(config) and not isinstance(config, type):
        return {k: _jsonable(v) for k, v in asdict(config).items()}
    mapping: Any = config  # (a mapping, when not a dataclass)
    return dict(mapping)


class Runner:
    """Runs declared steps in a run directory (see the module docstring).

    ``command``: what the directory is (``run``, ``plan``): a directory holding another command's output,
    or anything that is not such a directory and not empty, is refused. ``config``: a dataclass whose
    fields the steps declare; ``free``: its fields that change no result (default: the config class's
    ``NOT_AFFECTING`` attribute). ``engine``, ``trainer`` and
    ``generator_factory`` (``factory(spec, cfg_view) -> Generator``) are handed to the steps. The
    directory is created if needed and locked until :meth:`close` (a context manager closes it; a
    directory this runner created and left empty is removed).
    """

    def __init__(self, out: str | os.PathLike[str], *, command: str, config: Any, free: Iterable[str] | None = None,
                 log: Log | None = None, engine: Engine | None = None,
                 generator_factory: Callable[[Any, Any], Any] | None = None, trainer: Any = None, flag: str = "--out"):
        self.dir = RunDir(out)
        free_fields: Iterable[str] = getattr(type(config), "NOT_AFFECTING", ()) if free is None else free
        self.command, self.config, self.free = command, config, frozenset(free_fields)
        self.log = log or Log(False)
        self.engine, self.trainer = engine, trainer
        self.generators = _GeneratorSlot(generator_factory) if generator_factory is not None else None
        self._fields = frozenset(field_names(config))
        unknown = self.free - self._fields
        if unknown:
            raise ValueError(f"free fields that the config does not have: {', '.join(sorted(unknown))}")
        self._check_kind(flag)
        self.created = not self.dir.path.exists()
        try:
            self.dir.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            why = "a file is in the way" if isinstance(e, (FileExistsError, NotADirectoryError)) else e.strerror
            raise InputError(f"{self.dir.path}: cannot create the directory ({why}); choose another {flag}") from None
        self._lock: RunLock | None = self.dir.lock()
        try:
            self._check_kind(flag)  # again, now that no one else can change it
            if self.dir.clean_temporaries():
                self.log("removed temporary files left by an interrupted process")
            self.manifest = self.dir.manifest() if self.dir.manifest_path.is_file() else Manifest(command)
        except BaseException:
            self.close(failed=True)
            raise
        #: The steps run or found done by this runner, by full name (what this run consists of).
        self.current: dict[str, StepRecord] = {}

    # -- the directory ---------------------------------------------------------------------------------

    def _check_kind(self, flag: str) -> None:
        p = self.dir.path
        if self.dir.manifest_path.is_file():
            try:
                m = self.dir.manifest()
            except InputError as e:
                raise InputError(f"{p}: is not empty and not a stagekit {self.command} directory (its manifest.json is "
                                 f"not a stagekit manifest: {e}); choose another {flag}") from None
            if not m.command:
                raise InputError(f"{p}: is not empty and not a stagekit {self.command} directory (its manifest.json "
                                 f"names no stagekit command); choose another {flag}")
            if m.command != self.command:
                raise InputError(f"{p}: holds a `stagekit {m.command}` output, not a {self.command}; "
                                 f"choose another {flag}")
            return
        if p.exists() and not p.is_dir():
            raise InputError(f"{p}: exists and is not a directory; choose another {flag}")
        if p.is_dir() and any(not _ours(x) for x in p.iterdir()):
            raise InputError(f"{p}: exists, is not empty and is not a stagekit {self.command} directory; "
                             f"choose another {flag}")

    def close(self, failed: bool = False) -> None:
        """Release the lock; remove the directory if this runner created it and nothing was written, or
        (``failed``: the command failed) no step finished in it."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is None:
            return
        if self.created and self.dir.path.is_dir():
            manifest = getattr(self, "manifest", None)
            if not any(self.dir.path.iterdir()):
                self.dir.path.rmdir()
            elif failed and (manifest is None or not manifest.steps):
                shutil.rmtree(self.dir.path, ignore_errors=True)  # only what this failed command wrote
        lock.release()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(failed=exc_type is not None)

    def save(self) -> None:
        """Write the manifest (atomically), stamped with the time."""
        self.manifest.schema_version = SCHEMA_VERSION
        self.manifest.created = self.manifest.created or _now()
        self.manifest.updated = _now()
        self.dir.write_manifest(self.manifest)

    # -- inputs ----------------------------------------------------------------------------------------

    def source(self, decl: Source) -> Value:
        """Load a declared source through a view of its fields, record it in the manifest, return it."""
        self._check_fields(decl.reads, f"source {decl.name}")
        view = ConfigView(self.config, decl.reads, f"source {decl.name}", self.free)
        value, key = decl.load(view)
        self.manifest.sources[decl.name] = SourceRecord(key, {f: _jsonable(getattr(self.config, f)) for f in decl.reads})
        return Value(decl.name, key, value)

    def given(self, name: str, key: str, value: Any) -> Value:
        """An input given by the caller rather than loaded from the config (a table read from a file), with
        ``key`` a hash of its contents; recorded in the manifest's sources."""
        self.manifest.sources[name] = SourceRecord(key)
        return Value(name, key, value)

    def _check_fields(self, names: Iterable[str], where: str) -> None:
        unknown = [n for n in names if n not in self._fields]
        if unknown:
            raise ValueError(f"{where} declares reads that are not options: {', '.join(unknown)}")

    # -- steps -----------------------------------------------------------------------------------------

    def key(self, step: Step, inputs: Mapping[str, Ref | None]) -> tuple[str, dict[str, Any], dict[str, str | None]]:
        """The key of ``step`` with ``inputs``, and the reads and input keys it is derived from."""
        self._check_fields(step.reads, f"step {step.name}")
        missing, extra = set(step.takes) - set(inputs), set(inputs) - set(step.takes)
        if missing or extra:
            raise ValueError(f"step {step.name} takes {', '.join(step.takes) or 'nothing'}; given "
                             f"{', '.join(sorted(inputs)) or 'nothing'}")
        reads = {f: _jsonable(getattr(self.config, f)) for f in step.reads}
        keys = {n: (None if r is None else r.key) for n, r in sorted(inputs.items())}
        return stable_hash(step.name, step.version, reads, keys), reads, keys

    def is_done(self, step: Step, round_: int | None, key: str) -> StepRecord | None:
        """The record of ``step`` when it finished with ``key`` and its outputs hold what it recorded (their
        sha256 checked); a step whose outputs changed since is run again."""
        name = step.full_name(round_)
        rec = self.manifest.steps.get(name)
        if not (rec and rec.key == key and all(self.dir.present(o) for o in rec.written.values())):
            return None
        try:
            for out in rec.written.values():
                self.dir.verify(out, name)
        except CorruptOutput as e:
            self.log(f"{name}: {e}; running it again")
            return None
        return rec

    def run(self, step: Step, *, round: int | None = None, inputs: Mapping[str, Ref | None] | None = None,
            force: bool = False, args: Mapping[str, Any] | None = None) -> Done:
        """Run ``step`` (for round ``round``) unless it is done with the same key (or ``force``); returns it.
        ``args`` reach the step as ``ctx.args`` and do not enter the key (they must not change results)."""
        inputs = dict(inputs or {})
        key, reads, keys = self.key(step, inputs)
        name = step.full_name(round)
        rec = None if force else self.is_done(step, round, key)
        if rec is not None:
            self.log(f"{name}: done earlier (key {key}), skipped")
            self.current[name] = rec
            return Done(step, round, key, rec)
        self.log(f"{name} ...")
        if self.manifest.steps.pop(name, None) is not None:
            self.save()  # the old record goes first: a step interrupted half-way runs again
        ctx = StepContext(self, step, round, inputs, args or {})
        t0, c0 = time.perf_counter(), time.process_time()
        step.run(ctx)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rec = StepRecord(key=key, written=ctx.written, seconds=round_seconds(dt), cpu_seconds=round_seconds(cpu),
                         inputs=keys, reads=reads,
                         version=step.version, notes=ctx.notes)
        self.manifest.steps[name] = rec
        self.current[name] = rec
        self.save()
        self.log(f"{name}: {dt:.1f} s")
        return Done(step, round, key, rec)

    def adopt(self, other: str | os.PathLike[str], names: Iterable[str]) -> list[str]:
        """Take finished steps of another run directory of the same command (e.g. the base model's
        measurement and held-out evaluation, which every recipe of ``stagekit compare --run`` shares): for
        each named step this directory has no record of, whose outputs in ``other`` are tables present as
        recorded, the outputs are linked here (hard links where the file system allows, else copies) and the
        record added, noted ``adopted_from``. Nothing is trusted beyond the key: :meth:`run` skips an adopted
        step only when the key it derives here equals the adopted one, and otherwise runs it (its writes
        replace the links, never the other directory's files). Returns the names adopted."""
        src = RunDir(other)
        theirs = src.manifest()
        if theirs.command != self.command:
            raise InputError(f"{src.path}: holds a `stagekit {theirs.command}` output, not a {self.command}")
        taken = []
        for name in names:
            rec = theirs.steps.get(name)
            if rec is None or name in self.manifest.steps:
                continue
            if any(o.kind == "dir" for o in rec.written.values()) or not all(src.present(o) for o in rec.written.values()):
                continue
            for o in rec.written.values():
                files = [o.path] if o.kind == "table" else [p.path for p in o.parts]
                for rel in files:
                    self.dir.link_from(src, rel)
            self.manifest.steps[name] = StepRecord.from_json({**rec.to_json(), "adopted_from": str(src.path)})
            taken.append(name)
        if taken:
            self.save()
            self.log(f"adopted from {src.path}: {', '.join(taken)}")
        return taken

    def discard(self, done: Done, output: str) -> None:
        """Remove an intermediate output of a finished step (a model a later step started from): the record
        keeps its key and lists the output as removed, so the step is not run again unless a later step
        that needs the output has to run again."""
        rec = self.manifest.steps.get(done.name)
        out = rec.written.get(output) if rec else None
        if rec is None or out is None:
            return
        del rec.written[output]
        rec.removed.append(out.path)
        self.save()
        self.dir.remove(out.path)


def round_seconds(dt: float) -> float:
    return round(dt, 2)


def _ours(p: Path) -> bool:
    """A temporary file or directory a stagekit writer makes (left by a killed process)."""
    return p.name.startswith(".") and (p.name.endswith(TEMP_SUFFIX) or p.name.startswith(".scratch-"))
