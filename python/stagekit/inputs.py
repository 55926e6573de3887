"""The inputs of ``stagekit run``: problems (a file, or the built-in ladder) and, with ``--rollouts``, the
round-0 rollouts a user already has; both as tables with the canonical column names. Declared as the
runner's ``problems`` source (:data:`PROBLEMS`): the fields it reads, and a key that is a hash of the
tables it makes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError, sha256_path
from stagekit.runner import source, stable_hash, table_hash
from stagekit.io import Source, read_table

__all__ = ["INPUT_READS", "PROBLEMS", "PROBLEM_COLUMNS", "GivenRollouts", "Inputs", "load_problems", "load_rollouts"]

#: Rows of a run's problem table: the canonical column names.
PROBLEM_COLUMNS = ("problem_id", "prompt", "answer", "solution")

#: The options the inputs are made from.
INPUT_READS = ("problems", "rollouts", "id_column", "prompt_column", "answer_column", "trace_column",
               "completion_column", "max_problems", "ladder_problems", "ladder_levels", "seed")

_FLAGS = {"problem_id": "--id-column", "prompt": "--prompt-column", "answer": "--answer-column",
          "completion": "--completion-column", "solution": "--trace-column"}


def _rename(table: pa.Table, mapping: dict[str, str], where: str, required: tuple[str, ...]) -> pa.Table:
    """The user's columns under the canonical names (``mapping``: canonical -> the user's column; one column
    may serve as two, e.g. GSM8K's ``answer`` as both gold and teacher trace). A required column missing is
    an InputError naming it, the file and the flag; an unmapped column that holds a canonical name is kept
    as ``<name>_original``."""
    for canon in required:
        if mapping[canon] not in table.column_names:
            raise InputError(f"{where}: missing column {mapping[canon]!r} (columns: {', '.join(table.column_names)}; "
                             f"choose another with {_FLAGS[canon]})")
    cols = {canon: table[src] for canon, src in mapping.items() if src in table.column_names}
    sources = {src for canon, src in mapping.items() if canon in cols}
    for name in table.column_names:
        if name not in sources:
            cols[f"{name}_original" if name in cols else name] = table[name]
    return pa.table(cols)


def _ids_as_strings(table: pa.Table, where: str) -> pa.Table:
    """Problem ids, gold answers and traces as strings (a CSV reader makes numbers of ``42``)."""
    for name in ("problem_id", "answer", "solution"):
        if name in table.column_names and not pa.types.is_string(table.schema.field(name).type):
            try:
                table = table.set_column(table.column_names.index(name), name, pc.cast(table[name], pa.string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(f"{where}: column {name!r} has type {table.schema.field(name).type}: expected text or numbers") from None
    return table


def _check_problems(table: pa.Table, where: str) -> None:
    for col in ("prompt", "answer"):
        nulls = table[col].null_count
        if nulls:
            first = table[col].to_pylist().index(None)
            raise InputError(f"{where}: column {col!r} is null in {nulls} rows (first: row {first})")
    ids = table["problem_id"]
    if pc.count_distinct(ids).as_py() != table.num_rows:
        counts = table.group_by("problem_id").aggregate([("problem_id", "count")])
        dup = counts.filter(pc.greater(counts["problem_id_count"], 1))["problem_id"][0].as_py()
        raise InputError(f"{where}: problem ids repeat (e.g. {dup!r}); give a unique --id-column")


def load_problems(cfg: Any) -> tuple[pa.Table | None, dict[str, str]]:
    """The problems of a run (canonical columns ``problem_id`` (string), ``prompt``, ``answer`` and, when
    there is a teacher, ``solution``; other columns kept) and the input files' sha256. None with
    ``--rollouts`` and no ``--problems``: :func:`load_rollouts` derives them."""
    inputs: dict[str, str] = {}
    mapping = {"problem_id": cfg.id_column, "prompt": cfg.prompt_column, "answer": cfg.answer_column,
               "solution": cfg.trace_column}
    if cfg.problems:
        path = Path(cfg.problems)
        table = read_table(path, text=(cfg.answer_column, cfg.trace_column, cfg.id_column))
        inputs[str(path)] = sha256_path(path)
        if table.num_rows == 0:
            raise InputError(f"{path}: no problems (the file has no rows)")
        if cfg.id_column not in table.column_names:
            table = table.append_column(cfg.id_column, pa.array([str(i) for i in range(table.num_rows)]))
        table = _ids_as_strings(_rename(table, mapping, str(path), ("problem_id", "prompt", "answer")), str(path))
        if cfg.max_problems:
            table = table.slice(0, cfg.max_problems)
        _check_problems(table, str(path))
    elif cfg.rollouts:
        table = None
    else:
        from stagekit.ladder import make_ladder

        try:
            table = make_ladder(cfg.ladder_problems, seed=cfg.seed, levels=cfg.levels())
        except ValueError as e:
            raise InputError(f"ladder: {e}") from None
    return table, inputs


@dataclass(frozen=True)
class GivenRollouts:
    """``--rollouts``: the file (or directory or glob of parts), read in batches when a step needs it, the
    column mapping (canonical name -> the user's column) and whether the problems were given apart."""

    path: Path
    mapping: dict[str, str]
    problems_given: bool

    def source(self) -> Source:
        m = self.mapping
        return Source(self.path, text=(m["answer"], m["solution"], m["completion"], m["problem_id"]))

    def batches(self, problems: pa.Table) -> Iterator[pa.RecordBatch]:
        """The rollouts in batches under the canonical column names, problem ids and golds as text; with
        ``--problems``, each row carries its problem's columns (prompt, answer, solution, ...)."""
        src = self.source()
        required = ("problem_id", "completion") if self.problems_given else ("problem_id", "completion", "prompt", "answer")
        extra = [c for c in problems.column_names if c != "problem_id"]
        for batch in src.batches():
            table = _ids_as_strings(_rename(pa.Table.from_batches([batch]), self.mapping, src.position, required),
                                    src.position)
            if self.problems_given:  # the problems' prompt, answer and trace; their other columns where new
                table = table.drop_columns([c for c in ("prompt", "answer", "solution") if c in table.column_names])
                take = [c for c in extra if c not in table.column_names]
                idx = pc.index_in(table["problem_id"], value_set=problems["problem_id"])
                rows = problems.select(take).take(idx)
                for name in rows.column_names:
                    table = table.append_column(name, rows[name])
            yield from table.combine_chunks().to_batches()


def _firsts(table: pa.Table, cols: list[str]) -> pa.Table:
    g = table.select(["problem_id", *cols]).group_by("problem_id", use_threads=False).aggregate(
        [(c, "first") for c in cols])
    return g.rename_columns([c.removesuffix("_first") for c in g.column_names])


def load_rollouts(cfg: Any, problems: pa.Table | None) -> tuple[GivenRollouts, pa.Table, dict[str, str], str]:
    """``--rollouts``: checked in one pass over the file, in batches (columns present and of the right
    types; with ``--problems``, every problem id among them), and the problems (derived from the rollouts
    when no ``--problems`` is given: the first prompt, answer and trace of each problem id). Returns the
    rollouts to read, the problems, the input files' sha256 and a key of the rollouts as read."""
    path = Path(cfg.rollouts or "")
    mapping = {"problem_id": cfg.id_column, "prompt": cfg.prompt_column, "answer": cfg.answer_column,
               "solution": cfg.trace_column, "completion": cfg.completion_column}
    given = GivenRollouts(path, mapping, problems is not None)
    src = given.source()
    if src.is_empty():
        raise InputError(f"{path}: no rollouts (the file has no rows)")
    required = ("problem_id", "completion") if problems is not None else ("problem_id", "completion", "prompt", "answer")
    _rename(src.schema.empty_table(), mapping, str(path), required)  # the columns are there (or an error names them)
    firsts: pa.Table | None = None
    cols = [c for c in PROBLEM_COLUMNS[1:] if mapping[c] in src.column_names]
    for batch in (given.batches(problems if problems is not None else pa.table({"problem_id": pa.array([], pa.string())}))):
        table = pa.Table.from_batches([batch])
        _text(table, "completion", str(path))
        if problems is None:
            new = _firsts(table, cols)
            firsts = new if firsts is None else _firsts(pa.concat_tables([firsts, new], promote_options="permissive"), cols)
        else:
            ids = pc.unique(table["problem_id"])
            unknown = ids.filter(pc.invert(pc.is_in(ids, value_set=problems["problem_id"])))
            if len(unknown):
                raise InputError(f"{path}: problem ids that are not in --problems (e.g. {unknown[0].as_py()!r})")
    if problems is None:
        assert firsts is not None
        problems = firsts.sort_by("problem_id")
        _check_problems(problems, str(path))
    sha = src.sha256()
    key = stable_hash(sha, mapping, given.problems_given)
    return given, problems, {str(path): sha}, key


def _text(table: pa.Table, column: str, where: str) -> None:
    t = table.schema.field(column).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
        raise InputError(f"{where}: column {column!r} has type {t}; expected text")


@dataclass(frozen=True)
class Inputs:
    """What a run starts from: the problems, the given round-0 rollouts (``--rollouts``) or None, the input
    files' sha256, and a description of where the problems came from."""

    problems: pa.Table = field(repr=False)
    rollouts: GivenRollouts | None = field(repr=False)
    files: dict[str, str]
    description: str


@source("problems", reads=INPUT_READS)
def PROBLEMS(cfg: Any) -> tuple[Inputs, str]:
    """The run's :class:`Inputs`; the key hashes the problem table and the given rollouts."""
    problems, files = load_problems(cfg)
    rollouts, rkey = None, None
    if cfg.rollouts:
        rollouts, problems, more, rkey = load_rollouts(cfg, problems)
        files |= more
    assert problems is not None
    where = cfg.problems or cfg.rollouts or f"ladder(n={cfg.ladder_problems}, levels={cfg.ladder_levels}, seed={cfg.seed})"
    key = stable_hash(table_hash(problems), rkey)
    return Inputs(problems, rollouts, files, where), key
