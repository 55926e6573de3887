"""Where the data work runs: an engine object, chosen once at the top (the CLI, or the caller of
:func:`stagekit.loop.run` / :func:`stagekit.pipeline.plan_files`) and passed down into planning and sampling.

An engine decides *where* a computation runs, never *what* it computes:

- ``plan(rollouts, config, problems)``: score, pass rates, stage sets (:func:`stagekit.stagesets.plan_tables`);
- ``plan_source(source, config, out=)``: the first half of the same from rollouts on disk, read in batches, the
  scored rollouts written as Parquet parts (memory bounded by the batch; on Ray, written by the workers), the
  per-problem counts returned; the stats and sets are made from them in this process by the one shared
  code (:func:`stagekit.stagesets.finish_plan_chunks`), whatever the engine;
- ``generate(table, factory, *, n, ...)``: ``n`` completions per row from the generator that the zero-argument
  ``factory`` builds (in this process, or in remote workers, each building its own: the factory must then
  be picklable).

:class:`LocalEngine` runs both in this process. The Ray engine (:class:`stagekit.integrations.ray.RayEngine`)
runs plans on Ray Data and, with ``actors``, samples in a pool of Ray actors. :func:`get_engine` is the one
place that maps an engine's name (``--engine``) to its object, so nothing else imports an integration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from stagekit.io import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from stagekit.rundir import PartsWriter
    from stagekit.stagesets import PlanConfig
    from stagekit.io import Source

__all__ = ["ENGINES", "Engine", "LocalEngine", "get_engine"]

#: Engine names (``--engine``).
ENGINES = ("local", "ray")


@runtime_checkable
class Engine(Protocol):
    """What planning and sampling need of an engine."""

    name: str

    def plan(self, rollouts: pa.Table, config: PlanConfig, problems: pa.Table | None = None) -> dict[str, pa.Table]:
        """The tables of :func:`stagekit.stagesets.plan_tables` (``rollouts`` scored, ``stats``, ``sft``,
        ``rl``, ``drop``), with the same rows and values wherever they are computed."""
        ...

    def plan_source(self, rollouts: Source, config: PlanConfig, *, out: PartsWriter | None = None) -> pa.Table:
        """The per-problem counts (:meth:`stagekit.stagesets.PlanCounts.total`: problem id, ``n``,
        ``n_correct``, the first gold) of rollouts read in batches from ``rollouts``, never held whole; the
        scored rollouts are written to ``out`` (Parquet parts) when given. :func:`~stagekit.stagesets.finish_plan`
        of the counts gives the same tables as :meth:`plan`."""
        ...

    def generate(self, table: pa.Table, factory: Callable[[], Any], *, n: int, prompt: str = "prompt",
                 order: Sequence[str] = ("problem_id", "sample"), show_progress: bool = True,
                 **sampling: Any) -> pa.Table:
        """``stagekit.generate(table, factory(), n=n, prompt=prompt, **sampling)``; rows of a remote run
        come back sorted by ``order``."""
        ...


class LocalEngine:
    """Everything in this process."""

    name = "local"

    def plan(self, rollouts: pa.Table, config: PlanConfig, problems: pa.Table | None = None) -> dict[str, pa.Table]:
        from stagekit.stagesets import plan_tables

        return plan_tables(rollouts, config, problems)

    def plan_source(self, rollouts: Source, config: PlanConfig, *, out: PartsWriter | None = None) -> pa.Table:
        from stagekit.stagesets import count_batches

        return count_batches(rollouts.batches(), config, write=None if out is None else out.write,
                             where=lambda: rollouts.position)

    def generate(self, table: pa.Table, factory: Callable[[], Any], *, n: int, prompt: str = "prompt",
                 order: Sequence[str] = ("problem_id", "sample"), show_progress: bool = True,
                 **sampling: Any) -> pa.Table:
        from stagekit.generate import generate

        return generate(table, factory(), n=n, prompt=prompt, show_progress=show_progress, **sampling)

    def __repr__(self) -> str:
        return "LocalEngine()"


def get_engine(name: str = "local", *, address: str | None = None, actors: int = 0, gpus: float = 0.0) -> Engine:
    """The engine called ``name``: ``"local"``, or ``"ray"`` (a local Ray cluster, or the one at ``address``;
    with ``actors``, sampling in that many Ray actors of ``gpus`` GPUs each). Ray is imported only here,
    and started only when the engine is first used."""
    if name == "local":
        if actors:
            raise InputError("--ray-actors needs --engine ray")
        return LocalEngine()
    if name == "ray":
        from stagekit.integrations.ray import RayEngine

        return RayEngine(address=address, actors=actors, gpus=gpus, local=LocalEngine())
    raise InputError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
