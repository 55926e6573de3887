"""The stage loop's data part: from rollouts to stage sets, written to a run directory.

``plan`` (here) scores rollouts, computes pass rates and bins them into stage sets; the run directory it
writes (``round-0/*.parquet`` + ``manifest.json``) is what ``stagekit report`` renders and what
``datasets.load_dataset("parquet", ...)`` reads.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError, read_table, write_table

__all__ = ["PlanConfig", "RunDir", "plan", "plan_files"]

STAGE_TABLES = ("rollouts", "stats", "sft", "rl", "drop")


@dataclass(frozen=True)
class PlanConfig:
    """Options of ``stagekit plan`` (and the data part of ``stagekit run``)."""

    completion: str = "completion"
    answer: str = "answer"
    problem_id: str = "problem_id"
    scheme: str = "zero_partial_full"
    k: tuple[int, ...] = (1, 4, 8)
    threads: int | None = None
    problem_columns: tuple[str, ...] = ("prompt", "solution")
    extra: dict[str, Any] = field(default_factory=dict)


def plan(
    rollouts: pa.Table,
    config: PlanConfig = PlanConfig(),
    problems: pa.Table | None = None,
    *,
    engine: str = "local",
    address: str | None = None,
) -> dict[str, pa.Table]:
    """Score rollouts (unless a boolean ``correct`` column is given), compute pass rates, bin into stage
    sets. Returns ``rollouts`` (scored), ``stats`` (one row per problem, with stage columns) and the ``sft``,
    ``rl`` and ``drop`` sets, joined with the problem columns of ``problems`` when given.

    ``engine="ray"`` runs it on Ray Data (:func:`stagekit.integrations.ray.plan`: a local cluster, or the one
    at ``address``), with the same results."""
    from stagekit import transforms as T

    if engine == "ray":
        from stagekit.integrations import ray as skray

        return skray.plan(rollouts, config, problems, address=address)
    if engine != "local":
        raise InputError(f"unknown engine {engine!r} (local or ray)")
    if rollouts.num_rows == 0:
        raise InputError("the rollouts are empty: no rows to plan from")
    c = config
    if "correct" in rollouts.column_names and pa.types.is_boolean(rollouts.schema.field("correct").type):
        scored = rollouts
    else:
        scored = T.score(rollouts, completion=c.completion, answer=c.answer, threads=c.threads)
    stats = T.pass_rates(scored, by=c.problem_id, k=sorted({*c.k, 1}))
    stats, sets = stage_sets(stats, c, problems)
    return {"rollouts": scored, "stats": stats, **sets}


def stage_sets(stats: pa.Table, config: PlanConfig, problems: pa.Table | None = None) -> tuple[pa.Table, dict[str, pa.Table]]:
    """From per-problem pass rates to the binned stats and the ``sft``, ``rl`` and ``drop`` sets, joined with
    the problem columns of ``problems`` when given. Shared by the local and the Ray plan (the stats table
    is one row per problem: it fits on the driver)."""
    from stagekit import transforms as T

    c = config
    # pass@k past the most samples any problem has is null everywhere: leave those columns out.
    max_n = pc.max(stats["n"]).as_py()
    stats = T.bin_difficulty(stats.drop_columns([f"pass@{k}" for k in c.k if k > max_n]), scheme=c.scheme)
    sets = T.split_stages(stats)
    if problems is not None:
        if c.problem_id not in problems.column_names:
            raise InputError(
                f"the problems table has no {c.problem_id!r} column (columns: {', '.join(problems.column_names)})"
            )
        keep = [x for x in c.problem_columns if x in problems.column_names and x not in stats.column_names]
        if c.answer in problems.column_names and c.answer not in stats.column_names and c.answer not in keep:
            keep.append(c.answer)
        ptab = problems.select([c.problem_id, *keep])
        if ptab.schema.field(c.problem_id).type != stats.schema.field(c.problem_id).type:
            ptab = ptab.set_column(0, c.problem_id, ptab[c.problem_id].cast(stats.schema.field(c.problem_id).type))
        sets = {k: v.join(ptab, c.problem_id).sort_by(c.problem_id) for k, v in sets.items()}
    return stats, sets


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    import stagekit

    out = {"stagekit": stagekit.__version__, "python": platform.python_version()}
    for dist in ("pyarrow", "torch", "transformers", "trl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


class RunDir:
    """A run directory: ``round-<r>/<table>.parquet``, ``manifest.json``, ``report.html``. Every file is
    written atomically (a temporary file, then a rename)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def table_path(self, round_: int, name: str) -> Path:
        return self.path / f"round-{round_}" / f"{name}.parquet"

    def write_tables(self, round_: int, tables: dict[str, pa.Table]) -> dict[str, int]:
        rows = {}
        for name, table in tables.items():
            write_table(table, self.table_path(round_, name))
            rows[name] = table.num_rows
        return rows

    def read_table(self, round_: int, name: str) -> pa.Table | None:
        import pyarrow.parquet as pq

        p = self.table_path(round_, name)
        return pq.read_table(p) if p.is_file() else None

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            raise InputError(f"{self.path}: not a stagekit run directory (no manifest.json)")
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True, default=str)
                f.write("\n")
            os.replace(tmp, self.manifest_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def plan_files(
    rollouts_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: PlanConfig = PlanConfig(),
    problems_path: str | os.PathLike[str] | None = None,
    *,
    engine: str = "local",
    address: str | None = None,
) -> dict[str, Any]:
    """``stagekit plan``: read rollouts (and optionally problems), plan (in this process, or on Ray Data with
    ``engine="ray"``: a local cluster, or the one at ``address``), write the run directory and its manifest;
    returns the manifest."""
    rp = Path(rollouts_path)
    rollouts = read_table(rp)
    if rollouts.num_rows == 0:
        raise InputError(f"{rp}: no rows (an empty rollouts file)")
    for col in (config.problem_id, config.completion, config.answer):
        if col not in rollouts.column_names and not (col != config.problem_id and "correct" in rollouts.column_names):
            raise InputError(f"{rp}: missing column {col!r} (columns: {', '.join(rollouts.column_names)})")
    problems = read_table(problems_path) if problems_path else None
    tables = plan(rollouts, config, problems, engine=engine, address=address)
    run = RunDir(out)
    rows = run.write_tables(0, tables)
    inputs = {str(rp): _sha256(rp)}
    if problems_path:
        inputs[str(problems_path)] = _sha256(Path(problems_path))
    stats = tables["stats"]
    manifest = {
        "command": "plan",
        "engine": engine,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {**asdict(config), "k": list(config.k), "problem_columns": list(config.problem_columns)},
        "versions": _versions(),
        "inputs": inputs,
        "rounds": [
            {
                "round": 0,
                "rows": rows,
                "bridge": int(pc.sum(stats["bridge"]).as_py() or 0),
                "pass_rate_mean": float(pc.mean(stats["pass_rate"]).as_py() or 0.0),
            }
        ],
    }
    run.write_manifest(manifest)
    return manifest


def histogram(values: Sequence[float], bins: int = 10) -> list[int]:
    """Counts of pass rates in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    counts = [0] * bins
    for v in values:
        if v is not None:
            counts[min(int(v * bins), bins - 1)] += 1
    return counts
