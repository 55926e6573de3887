"""Ray Data engine: the same stagekit transforms, the same results, on one machine or a cluster.

The transforms are not rewritten for Ray: every function here runs the local transform (the same code,
``pa.Table -> pa.Table``) on pieces of a ``ray.data.Dataset`` and decides only *where* it runs::

    import stagekit as sk
    from stagekit.integrations import ray as skr

    skr.init()                                   # local Ray by default; skr.init("ray://head:10001") for a cluster
    ds = skr.dataset("rollouts/")                # Parquet files read in parallel; or a pa.Table, or a Dataset
    scored = skr.score(ds)                       # actor pool, fractional CPUs
    stats = skr.pass_rates(scored, k=(1, 4, 8))  # two-phase: partial counts, a sum per problem, the local finish
    binned = skr.map_rows(stats, sk.bin_difficulty, scheme="medium_sft")
    tables = skr.plan(ds)                        # == stagekit.pipeline.plan(table), rows sorted by problem_id

How each kind of transform is distributed:

- **Row-wise** (``score``, ``bin_difficulty``, ``split_stages``, ``segment_steps``, ``bridge_prompts``,
  ``to_sft``, ``to_grpo``): :func:`map_rows`, ``Dataset.map_batches(batch_format="pyarrow")`` on each block.
- **pass_rates**: a two-phase plan. Each block is reduced to per-problem counts (``n``, ``n_correct``) by
  :func:`stagekit.transforms.difficulty.pass_counts`; the counts are summed per problem, by Ray's hash
  aggregate (:func:`pass_rates`) or, when the stats are wanted on the driver, there
  (:func:`collect_pass_rates`, no shuffle); the sums go through
  :func:`~stagekit.transforms.difficulty.pass_rates_from_counts`, the code the local ``pass_rates`` ends
  with. Only count rows (one per problem and block) move, never completions.
- **Other group-wise transforms** (``zero_reward_groups``, ``persistent_failures``, ``select_bridge``,
  ``cft_records``, whose outputs need a group's rows together): :func:`map_groups` hashes the group key
  into a bucket column and runs ``groupby(bucket).map_groups`` with the *local* transform on each
  bucket. Every group lands whole in one bucket, so the local transform sees complete groups, and it is
  called once per bucket (thousands of groups, vectorised) rather than once per group, which Ray's
  ``groupby(key).map_groups`` would do at a fixed Python cost per call.
- **Stateful work** (the verifier's settings, a generator holding a model or a GPU): actor pools
  (``ray.data.ActorPoolStrategy``) whose actors ask for a fraction of a CPU (``num_cpus=0.5``), so that
  the read and map tasks feeding them still get scheduled on a small machine.

**Files on disk** (what ``stagekit plan --engine ray`` and ``stagekit run --engine ray`` plan from):
:func:`plan_source` cuts them into pieces read, scored and written as Parquet parts by Ray tasks; only
per-problem counts and the parts' records come back to the driver, never a completion.

Results equal the local ones up to row order. Where a local transform depends on the order of rows
*within* a group (the order of ``zero_reward_groups``' ``completions`` lists, the first value of a kept
column, ``select_bridge``'s choice among equally short continuations, which reference a problem's
``new_trace`` uses when its rows disagree), it follows the order in which Ray delivers the rows. A
Dataset's output is not globally sorted: :func:`collect` with ``sort_by`` makes a sorted table.

Ray is an optional extra (``pip install 'stagekit[ray]'``); it is imported only inside these functions.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError
from stagekit.stagesets import PlanConfig, problem_golds, stage_sets
from stagekit.transforms import as_table
from stagekit.transforms import difficulty as _difficulty

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = [
    "RayEngine", "cft_records", "collect", "collect_pass_rates", "dataset", "generate", "init", "map_groups", "map_rows", "pass_rates",
    "persistent_failures", "plan", "plan_source", "score", "select_bridge", "split_stages", "sum_counts",
    "zero_reward_groups",
]

#: Rows per block when a table is handed to Ray (and at least two blocks per CPU).
ROWS_PER_BLOCK = 250_000
_BUCKET = "__stagekit_bucket"
_READERS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise ImportError("stagekit's Ray engine needs Ray Data: pip install 'stagekit[ray]'") from e
    return ray


def init(address: str | None = None, num_cpus: float | None = None, *, quiet: bool = True, **ray_init_args: Any) -> None:
    """Start or join Ray once: a no-op when Ray is already initialised in this process.

    ``address=None`` starts a local cluster (with ``num_cpus`` CPUs, default all) unless ``RAY_ADDRESS`` is
    set; ``"auto"`` or ``"ray://host:10001"`` joins a running one. ``quiet`` turns off Ray Data's progress
    bars and its per-job INFO lines (errors and warnings still show).
    """
    ray = _ray()
    if not ray.is_initialized():
        args: dict[str, Any] = {"address": address, "include_dashboard": False, **ray_init_args}
        if address in (None, "local") and num_cpus is not None:
            args["num_cpus"] = num_cpus
        if quiet:
            args.setdefault("logging_level", logging.WARNING)
        ray.init(**args)
    if quiet:
        from ray.util.debug import log_once

        ray.data.DataContext.get_current().enable_progress_bars = False
        log_once("ray_data_progress_manager_disabled")  # turned off on purpose: Ray need not warn about it
        logging.getLogger("ray.data").setLevel(logging.WARNING)


def _cpus() -> int:
    ray = _ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1))) if ray.is_initialized() else os.cpu_count() or 1


def _partitions(partitions: int | None) -> int:
    return partitions or 2 * _cpus()


def _settle_fsspec_http() -> None:
    """Ray 2.60 resolves file paths on several threads, each importing fsspec's HTTP filesystem and
    catching ModuleNotFoundError where it cannot be imported (aiohttp missing). Threads racing over that
    failing import can see a half-imported module and raise ImportError instead, which Ray does not
    catch. Import it once here; if it fails, mark it unimportable so that every later import fails the
    same way, at once. That settles this process only: Ray's workers list files too, so the `ray` extra
    installs aiohttp, with which the import succeeds and there is no failure to race over."""
    import sys

    try:
        import fsspec.implementations.http  # noqa: F401
    except ModuleNotFoundError:
        sys.modules["fsspec.implementations.http"] = None  # type: ignore[assignment]
    except ImportError:  # no fsspec at all: Ray's readers say so themselves
        pass


def dataset(data: Any, *, blocks: int | None = None) -> Dataset:
    """A ``ray.data.Dataset`` from a Dataset (returned as is, or repartitioned into ``blocks``), a file or
    directory path or a list of them (Parquet, JSONL, JSON or CSV, read by Ray in parallel), or a table
    (anything :func:`stagekit.transforms.as_table` takes), cut into ``blocks`` zero-copy slices (default:
    about ``ROWS_PER_BLOCK`` rows each, and at least two per CPU)."""
    ray = _ray()
    if isinstance(data, ray.data.Dataset):
        return data if blocks is None else data.repartition(blocks)
    paths = [data] if isinstance(data, (str, os.PathLike)) else data
    if isinstance(paths, (list, tuple)) and paths and all(isinstance(p, (str, os.PathLike)) for p in paths):
        _settle_fsspec_http()
        first = Path(paths[0])
        kind = "parquet" if first.is_dir() else _READERS.get(first.suffix.lower())
        strs = [str(p) for p in paths]
        if kind == "parquet":
            return ray.data.read_parquet(strs, override_num_blocks=blocks)
        if kind in ("jsonl", "json"):
            return ray.data.read_json(strs, lines=kind == "jsonl", override_num_blocks=blocks)
        if kind == "csv":
            return ray.data.read_csv(strs, override_num_blocks=blocks)
        raise InputError(f"{first}: unknown file format {first.suffix!r} (known: {', '.join(sorted(_READERS))})")
    table = as_table(data, "stagekit.integrations.ray.dataset")
    n = table.num_rows
    blocks = blocks or max(min(n, 2 * _cpus()), math.ceil(n / ROWS_PER_BLOCK), 1)
    step = max(1, math.ceil(n / blocks))
    return ray.data.from_arrow([table.slice(i, step) for i in range(0, n, step)] or [table])


def collect(ds: Dataset, sort_by: str | Iterable[str] | None = None) -> pa.Table:
    """The rows of ``ds`` as one ``pyarrow.Table`` on the driver (its blocks concatenated; column types
    unified), sorted by the ``sort_by`` columns (ascending, nulls last, as the local transforms sort).

    An empty result has the Dataset's schema where Ray knows it; Ray drops empty blocks, so the output
    of a transform that received no rows is a table with no columns."""
    ray = _ray()
    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_columns]
    if tables:
        out = pa.concat_tables(tables, promote_options="default")
    else:
        schema = ds.schema()
        out = pa.schema(list(zip(schema.names, schema.types, strict=True))).empty_table() if schema else pa.table({})
    keys = [sort_by] if isinstance(sort_by, str) else list(sort_by or ())
    return out.sort_by([(k, "ascending") for k in keys]) if keys and out.num_columns else out


class _Apply:
    """``transform(batch, **options)`` as a picklable Ray UDF (it names the transform in Ray's plan),
    dropping ``drop`` columns first."""

    def __init__(self, transform: Callable[..., pa.Table], options: dict[str, Any], drop: tuple[str, ...] = ()):
        self.transform, self.options, self.drop = transform, options, drop
        self.__name__ = getattr(transform, "__name__", type(transform).__name__)

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = self.transform(batch.drop_columns(list(self.drop)) if self.drop else batch, **self.options)
        if not isinstance(out, pa.Table):
            raise TypeError(f"{self.__name__} returned {type(out).__name__}, not a pyarrow.Table "
                            "(for split_stages use stagekit.integrations.ray.split_stages)")
        return out


def _check_early(ds: Dataset, transform: Callable[..., Any], options: dict[str, Any]) -> None:
    """Run ``transform`` on zero rows of ``ds``' schema when Ray knows the schema without executing
    anything: a missing column or a bad option then raises the local error on the driver, at once."""
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None and getattr(transform, "reads", None) is not None:
        transform(pa.schema(list(zip(schema.names, schema.types, strict=True))).empty_table(), **options)


def map_rows(
    ds: Dataset, transform: Callable[..., pa.Table], *, batch_size: int | None = None, num_cpus: float | None = None,
    **options: Any,
) -> Dataset:
    """A row-wise transform (its output rows depend on one input row each: ``score``, ``bin_difficulty``,
    ``segment_steps``, ``bridge_prompts``, ``to_sft``, ``to_grpo``) over ``ds``, unchanged: the local
    function called with ``options`` on each batch, ``map_batches(batch_format="pyarrow")``, in Ray tasks
    of ``num_cpus`` CPUs; ``batch_size=None`` makes each block one batch."""
    _check_early(ds, transform, options)
    return ds.map_batches(_Apply(transform, options), batch_format="pyarrow", batch_size=batch_size, num_cpus=num_cpus)


def _stage(table: pa.Table, *, stage: str) -> pa.Table:
    from stagekit.transforms import split_stages as local

    return local(table)[stage]


def split_stages(ds: Dataset) -> dict[str, Dataset]:
    """``sft``, ``rl`` and ``drop`` Datasets of a binned Dataset: the local ``split_stages`` on each batch,
    keeping one set (materialise ``ds`` first when it is costly to compute: each set reads it)."""
    return {s: ds.map_batches(_Apply(_stage, {"stage": s}), batch_format="pyarrow") for s in ("sft", "rl", "drop")}


def _pool(actors: int | tuple[int, int] | None) -> Any:
    ray = _ray()
    if isinstance(actors, tuple):
        return ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1])
    return ray.data.ActorPoolStrategy(size=actors or _cpus())


class _Scorer:
    """One per actor: the verifier settings, and stagekit with its Rust core loaded once."""

    def __init__(self, options: dict[str, Any]):
        from stagekit.transforms import score as local

        self.score = functools.partial(local, **options)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.score(batch)


def score(
    ds: Dataset, *, actors: int | tuple[int, int] | None = None, num_cpus: float = 0.5, threads: int | None = 1,
    batch_size: int | None = None, **options: Any,
) -> Dataset:
    """``stagekit.score`` in a pool of ``actors`` actors (default: one per cluster CPU; a ``(min, max)``
    pair autoscales), each asking for ``num_cpus`` of a CPU and verifying on ``threads`` Rust threads
    (default 1: the actors are the parallelism). ``options`` are score's (``completion=``, ``answer=``,
    ``rel_tol=``, ``require_marker=``)."""
    from stagekit.transforms import score as local

    options = {"threads": threads, **options}
    _check_early(ds, local, options)
    return ds.map_batches(_Scorer, fn_constructor_kwargs={"options": options}, batch_format="pyarrow",
                          batch_size=batch_size, compute=_pool(actors), num_cpus=num_cpus)


def _empty_counts(keys: list[str]) -> pa.Table:
    return pa.table({**{c: pa.nulls(0) for c in keys}, "n": pa.array([], pa.int64()), "n_correct": pa.array([], pa.int64())})


def _block_counts(ds: Dataset, by: str | Iterable[str], correct: str, k: Any, confidence: float) -> tuple[Dataset, dict]:
    """Phase one of pass_rates (``pass_counts`` on each block) and the options of the finish, which are
    checked here, by the local code, before any Ray work."""
    keys = [by] if isinstance(by, str) else list(by)
    finish = {"by": keys, "k": k, "confidence": confidence}
    _difficulty.pass_rates_from_counts(_empty_counts(keys), **finish)
    return map_rows(ds, _difficulty.pass_counts, by=keys, correct=correct), finish


def pass_rates(
    ds: Dataset, *, by: str | Iterable[str] = "problem_id", correct: str = "correct", k: int | Iterable[int] = (1, 4, 8),
    confidence: float = 0.95, partitions: int | None = None,
) -> Dataset:
    """``stagekit.pass_rates`` in two phases, all in the cluster: ``pass_counts`` on each block (one row
    per problem and block), Ray's hash aggregate summing ``n`` and ``n_correct`` per problem over
    ``partitions`` partitions (default two per CPU), then ``pass_rates_from_counts`` on the sums, the
    local finish. Each output block is sorted by ``by``; :func:`collect` with ``sort_by=by`` gives the
    local table. For stats wanted on the driver anyway, :func:`collect_pass_rates` skips the shuffle."""
    from ray.data.aggregate import Sum

    counts, finish = _block_counts(ds, by, correct, k, confidence)
    sums = counts.groupby(finish["by"], num_partitions=_partitions(partitions)).aggregate(
        Sum("n", alias_name="n"), Sum("n_correct", alias_name="n_correct")).materialize()
    # The k past every problem's n are left out, as locally: decided over all partitions, not in each.
    finish["max_n"] = sums.max("n") if sums.count() else None
    return sums.map_batches(_Apply(_difficulty.pass_rates_from_counts, finish), batch_format="pyarrow")


def collect_pass_rates(
    ds: Dataset, *, by: str | Iterable[str] = "problem_id", correct: str = "correct", k: int | Iterable[int] = (1, 4, 8),
    confidence: float = 0.95,
) -> pa.Table:
    """``stagekit.pass_rates`` of ``ds`` as a table on the driver, equal to the local one: ``pass_counts``
    on each block in the cluster, then the count rows (one per problem and block, a few dozen bytes each)
    summed per problem and finished on the driver. No shuffle, so none of its fixed cost; the driver
    holds the counts, about as large as the stats it returns."""
    counts, finish = _block_counts(ds, by, correct, k, confidence)
    table = collect(counts)
    if table.num_columns == 0:
        table = _empty_counts(finish["by"])
    return _difficulty.pass_rates_from_counts(sum_counts(table, finish["by"]), **finish)


sum_counts = _difficulty.sum_counts


def _bucket(table: pa.Table, keys: list[str], buckets: int) -> pa.Array:
    """A bucket in ``[0, buckets)`` per row from a hash of its key columns that is the same in every
    process (integers by value, whatever their width; other types by their string form; null apart)."""
    import numpy as np
    import pandas as pd

    h = np.zeros(table.num_rows, np.uint64)
    for name in keys:
        col = table[name]
        if pa.types.is_integer(col.type):
            v = pc.fill_null(col.cast(pa.int64(), safe=False), 0).to_numpy().view(np.uint64)
        else:
            v = pd.util.hash_array(  # pyright: ignore[reportAttributeAccessIssue]  (pandas.util is lazy)
                col.cast(pa.large_string()).to_numpy(zero_copy_only=False), categorize=False)
        v = np.where(pc.is_null(col).to_numpy(zero_copy_only=False), np.uint64(0x9E3779B97F4A7C15), v)
        h = (h * np.uint64(0x100000001B3)) ^ v
    # splitmix64 finaliser: spread consecutive ids over the buckets
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return pa.array((h ^ (h >> np.uint64(31))) % np.uint64(buckets)).cast(pa.int64())


def _tag(table: pa.Table, *, keys: list[str], buckets: int) -> pa.Table:
    return table.append_column(_BUCKET, _bucket(table, keys, buckets))


def map_groups(
    ds: Dataset, transform: Callable[..., pa.Table], *, by: str | Iterable[str], partitions: int | None = None,
    num_cpus: float | None = None, **options: Any,
) -> Dataset:
    """A group-wise transform over ``ds``, unchanged: rows are hashed on their ``by`` columns into
    ``partitions`` buckets (default two per CPU), Ray groups them by bucket, and the local ``transform``
    runs once per bucket, on complete groups. ``by`` is also passed to the transform when it takes a
    ``by`` option; ``options`` are the transform's. Each bucket must fit in one worker's memory: raise
    ``partitions`` for larger data."""
    keys = [by] if isinstance(by, str) else list(by)
    if "by" in inspect.signature(transform).parameters:
        options = {"by": by, **options}
    _check_early(ds, transform, options)
    from ray.data.dataset import MaterializedDataset

    if isinstance(ds, MaterializedDataset) and ds.count() == 0:
        # Ray 2.60's hash shuffle fails on an empty input that went through map_batches: skip it.
        return map_rows(ds, transform, **options)
    n = _partitions(partitions)
    tagged = ds.map_batches(_Apply(_tag, {"keys": keys, "buckets": n}), batch_format="pyarrow", num_cpus=num_cpus)
    return tagged.groupby(_BUCKET, num_partitions=n).map_groups(
        _Apply(transform, options, drop=(_BUCKET,)), batch_format="pyarrow", num_cpus=num_cpus)


def zero_reward_groups(ds: Dataset, *, by: str | Iterable[str] = ("problem_id", "step"), **options: Any) -> Dataset:
    """``stagekit.zero_reward_groups`` by :func:`map_groups` on its ``by`` groups."""
    from stagekit.transforms import zero_reward_groups as local

    return map_groups(ds, local, by=by, **options)


def persistent_failures(ds: Dataset, *, by: str | Iterable[str] = "problem_id", **options: Any) -> Dataset:
    """``stagekit.persistent_failures`` by :func:`map_groups` on the problem (all of its steps together)."""
    from stagekit.transforms import persistent_failures as local

    return map_groups(ds, local, by=by, **options)


def select_bridge(ds: Dataset, *, by: str = "problem_id", **options: Any) -> Dataset:
    """``stagekit.select_bridge`` by :func:`map_groups` on the problem (all of its cuts together)."""
    from stagekit.transforms import select_bridge as local

    return map_groups(ds, local, by=by, **options)


def cft_records(ds: Dataset, *, problem_id: str = "problem_id", **options: Any) -> Dataset:
    """``stagekit.cft_records`` by :func:`map_groups` on the problem (it writes one ``new_trace`` record
    per problem, so a problem's attempts must meet)."""
    from stagekit.transforms import cft_records as local

    return map_groups(ds, local, by=problem_id, problem_id=problem_id, **options)


class _Generate:
    """One per actor: the generator, built once by the factory (a model loaded, a GPU held)."""

    def __init__(self, factory: Callable[[], Any], n: int, problem_id: str, options: dict[str, Any]):
        self.generator, self.n, self.problem_id, self.options = factory(), n, problem_id, options

    def __call__(self, batch: pa.Table) -> pa.Table:
        from stagekit.generate import generate as local

        if self.problem_id not in batch.column_names:
            raise ValueError(f"generate on Ray needs a {self.problem_id!r} column (row numbers restart in every batch)")
        return local(batch, self.generator, n=self.n, problem_id=self.problem_id, show_progress=False, **self.options)


def generate(
    ds: Dataset, generator_factory: Callable[[], Any], *, n: int = 4, actors: int | tuple[int, int] = 1,
    num_cpus: float = 0.5, num_gpus: float | None = None, batch_size: int = 256, problem_id: str = "problem_id",
    **options: Any,
) -> Dataset:
    """``stagekit.generate`` in a pool of ``actors`` actors, each holding the Generator that
    ``generator_factory()`` builds once (picklable: a class or a module-level function) and asking for
    ``num_cpus`` CPUs and ``num_gpus`` GPUs; ``batch_size`` prompts per call; ``options`` are generate's
    (``temperature=``, ``seed=``, ...). The rows need a ``problem_id`` column. Results equal local ones for
    backends whose completions for a prompt do not depend on the rest of the batch."""
    if n < 1:
        raise ValueError(f"generate: n must be >= 1, got {n}")
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None and problem_id not in schema.names:
        raise ValueError(f"generate on Ray needs a {problem_id!r} column (row numbers restart in every batch)")
    return ds.map_batches(_Generate, fn_constructor_args=(generator_factory, n, problem_id, options),
                          batch_format="pyarrow", batch_size=batch_size, compute=_pool(actors), num_cpus=num_cpus,
                          num_gpus=num_gpus)


def plan(
    rollouts: Any, config: PlanConfig = PlanConfig(), problems: Any = None, *, address: str | None = None,
    num_cpus: float | None = None, blocks: int | None = None, actors: int | None = None,
) -> dict[str, pa.Table]:
    """``stagekit.pipeline.plan`` on Ray: the same ``rollouts`` (scored), ``stats``, ``sft``, ``rl`` and
    ``drop`` tables with the same rows and values, every table sorted by problem id.

    ``rollouts``: a table, a ``ray.data.Dataset`` or file paths (see :func:`dataset`). Ray is initialised
    if needed (:func:`init` with ``address`` and ``num_cpus``), and the table cut into ``blocks``.

    Scoring (unless a boolean ``correct`` column is given) runs in Ray tasks, one Rust thread each (or
    ``PlanConfig.threads``): the verifier keeps no state worth an actor, and tasks reuse Ray's warm
    workers where an actor pool starts new processes on every call (seconds); ``actors=N`` scores in a
    pool of N actors instead. Pass rates: :func:`collect_pass_rates` (counts per block in the cluster,
    summed on the driver, no shuffle), since the stats (one row per problem) come to the driver anyway,
    where binning, the split and the join with ``problems`` run with the local code
    (``stagekit.stagesets.stage_sets``). The scored
    rollouts are collected to the driver too: its memory bounds the input size (for files on disk,
    :func:`plan_source` collects nothing but counts).
    """
    from stagekit import transforms as T

    init(address, num_cpus)
    c = config
    ds = dataset(rollouts, blocks=blocks)
    schema = ds.schema()
    if schema is None or ds.count() == 0:
        raise InputError("the rollouts are empty: no rows to plan from")
    correct = dict(zip(schema.names, schema.types, strict=True)).get("correct")
    if correct is not None and pa.types.is_boolean(correct):
        scored = ds.materialize()
    else:
        options: dict[str, Any] = {"completion": c.completion, "answer": c.answer, "threads": c.threads or 1}
        scored = (score(ds, actors=actors, **options) if actors else map_rows(ds, T.score, **options)).materialize()
    stats = collect_pass_rates(scored, by=c.problem_id, k=sorted({*c.k, 1}))
    table = collect(scored, sort_by=c.problem_id)
    stats, sets = stage_sets(stats, c, None if problems is None else as_table(problems, "plan"),
                             golds=problem_golds(table, c))
    return {"rollouts": table, "stats": stats, **sets}


# ------------------------------------------------------------------------------------------------ files on disk

#: Bytes of input per Ray task of :func:`plan_source` (at least four tasks per CPU where the input allows).
UNIT_BYTES = 256 << 20


def _plan_unit(unit: Any, index: int, text: tuple[str, ...], batch_rows: int | None, config: PlanConfig,
               out: str | None) -> dict[str, Any]:
    """One Ray task of :func:`plan_source`: a piece of the input read in batches, each scored and written to
    Parquet parts in ``out`` (``part-<index>-<i>``), its per-problem counts summed. Returns only the counts
    (Arrow IPC bytes) and the parts' records: never a completion."""
    from stagekit.rundir import PartFiles
    from stagekit.stagesets import PlanCounts, score_batch
    from stagekit.io import Source

    src = Source(unit.path, text=text, batch_rows=batch_rows)
    counts = PlanCounts(config)
    files = PartFiles(Path(out), prefix=f"part-{index:05d}-") if out else None
    try:
        for batch in src.batches([unit]):
            scored = score_batch(batch, config, threads=config.threads or 1)
            counts.add(scored, lambda: src.position)  # (named only for an error: a far unit's line costs a read)
            if files is not None:
                files.write(scored)
        parts = files.close() if files is not None else []
    except BaseException:
        if files is not None:
            files.abort()
        raise
    sink = pa.BufferOutputStream()
    if counts.rows:
        total = counts.total()
        with pa.ipc.new_stream(sink, total.schema) as w:
            w.write_table(total)
    return {"rows": counts.rows, "counts": sink.getvalue().to_pybytes(), "parts": parts}


def _input_error(e: BaseException) -> InputError | None:
    """The :class:`InputError` a Ray task raised (Ray wraps it), if that is what failed."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [e]
    while stack:
        x = stack.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, InputError):
            return InputError(str(x).splitlines()[-1] if "\n" in str(x) else str(x))
        stack.extend([getattr(x, "cause", None), x.__cause__, x.__context__])
    return None


def plan_source(source: Any, config: PlanConfig = PlanConfig(), *, out: Any = None,
                address: str | None = None, num_cpus: float | None = None,
                unit_bytes: int | None = None) -> pa.Table:
    """The per-problem counts of rollouts on disk (a :class:`stagekit.io.Source`), computed on Ray without
    collecting the rollouts: the input is cut into pieces (files, byte ranges of JSONL files, row groups of
    Parquet files; about ``unit_bytes`` each, at least four per CPU where possible), each read, scored and
    written as Parquet parts by a Ray task into ``out``'s directory (a :class:`stagekit.rundir.PartsWriter`,
    on storage the workers share; None: not written), and only each piece's per-problem counts and its
    parts' records (name, rows, size, sha256) come back to the driver, which sums the counts
    (:class:`stagekit.stagesets.PlanCounts`). The same table as the local engine's, from which
    :func:`stagekit.stagesets.finish_plan_chunks` makes the stats and sets on the driver.
    :attr:`fetched` holds the bytes the driver received from the tasks."""
    ray = _ray()
    init(address, num_cpus)
    from stagekit.stagesets import PlanCounts

    cpus = _cpus()
    size = source.size
    target = unit_bytes or max(8 << 20, min(UNIT_BYTES, size // (4 * cpus) + 1))
    units = source.units(target_bytes=target)
    task = ray.remote(num_cpus=1)(_plan_unit)
    where = None if out is None else str(out.tmp)
    refs = [task.remote(u, i, source.text, source.batch_rows, config, where) for i, u in enumerate(units)]
    counts = PlanCounts(config)
    fetched = 0
    by_ref = {r: i for i, r in enumerate(refs)}
    results: dict[int, dict[str, Any]] = {}
    pending = list(refs)
    added = 0  # pieces' counts are added in input order (the first gold of a problem is the local engine's)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            res = ray.get(done[0])
            fetched += len(res["counts"]) + sum(len(n) + 24 for n, *_ in res["parts"])
            results[by_ref[done[0]]] = res
            while added in results:
                res = results[added]
                if res["counts"]:
                    counts.add_counts(pa.ipc.open_stream(res["counts"]).read_all(), str(units[added].path))
                    counts.rows += res["rows"]
                    res["counts"] = b""
                added += 1
    except Exception as e:
        for r in pending:
            ray.cancel(r, force=True)
        err = _input_error(e)
        if err is not None:
            raise err from None
        raise
    plan_source.fetched = fetched  # type: ignore[attr-defined]
    if out is not None:
        out.add([p for i in sorted(results) for p in results[i]["parts"]])
    return counts.total()


class RayEngine:
    """The Ray engine (``--engine ray``; see :mod:`stagekit.engine`): :func:`plan` on a local Ray cluster, or
    the one at ``address``, started on first use; with ``actors``, sampling in a pool of that many Ray
    actors that each build the generator once (``gpus`` GPUs each), otherwise with the ``local`` engine
    (:func:`stagekit.engine.get_engine` passes its ``LocalEngine``)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, actors: int = 0, gpus: float = 0.0, local: Any = None) -> None:
        if actors < 0 or gpus < 0:
            raise InputError("ray actors and GPUs must be >= 0")
        if not actors and local is None:
            raise ValueError("RayEngine samples in this process without actors: give it the local engine (local=)")
        self.address, self.actors, self.gpus, self._local = address, actors, gpus, local

    def plan(self, rollouts: pa.Table, config: PlanConfig, problems: pa.Table | None = None) -> dict[str, pa.Table]:
        return plan(rollouts, config, problems, address=self.address)

    def plan_source(self, rollouts: Any, config: PlanConfig, *, out: Any = None) -> pa.Table:
        return plan_source(rollouts, config, out=out, address=self.address)

    def generate(self, table: pa.Table, factory: Callable[[], Any], *, n: int, prompt: str = "prompt",
                 order: Iterable[str] = ("problem_id", "sample"), show_progress: bool = True,
                 **sampling: Any) -> pa.Table:
        if not self.actors:
            return self._local.generate(table, factory, n=n, prompt=prompt, show_progress=show_progress, **sampling)
        init(self.address)
        ds = generate(dataset(table), factory, n=n, prompt=prompt, actors=self.actors, num_gpus=self.gpus or None,
                      **sampling)
        return collect(ds, sort_by=list(order))

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r}, actors={self.actors}, gpus={self.gpus})"
