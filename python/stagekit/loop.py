r"""The stage loop behind ``stagekit run``.

Round ``r`` of the loop, each step a cached unit of work in the run directory (``round-<r>/``):

=============  ==========================================================================  ==========================
step           what it does                                                                writes
=============  ==========================================================================  ==========================
``measure``    sample ``k`` completions per problem from the current student, verify them  ``rollouts``
``plan``       pass rates per problem, difficulty bins, stage sets                         ``stats sft rl drop``
``bridge``     teacher prefixes of the hard SFT problems, student continuations, verified  ``bridge_rollouts bridge``
``sft_data``   the SFT set: teacher traces, Bridge targets, last round's CFT records       ``sft_train``
``sft``        supervised fine-tuning (trl ``SFTTrainer``)                                 ``sft-model/``
``rl``         GRPO on the RL set (trl ``GRPOTrainer``), every completion recorded          ``rl_train rl_rollouts student/``
``cft``        zero-reward groups of the RL rollouts -> Critique Fine-Tuning records       ``cft``
=============  ==========================================================================  ==========================

After the last round the student is measured once more (``round-<R>/``: ``measure`` and ``plan``) and the
manifest's ``moved`` compares its pass rates with round 0's.

Resume: each step's key is a hash of the options it reads and the keys of the steps it depends on; a
step whose key and outputs are in the manifest is skipped, so re-running the same command continues where
it stopped and a changed option recomputes exactly what depends on it. Every file is written atomically
(a temporary file, then a rename) and the manifest is updated after a step's outputs are complete, so an
interrupted run leaves no partial output.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.config import RunConfig
from stagekit.io import InputError, read_table, write_table
from stagekit.pipeline import PlanConfig, RunDir, _sha256, _versions

__all__ = ["Student", "load_problems", "run"]

#: Rows of a run's problem table: the canonical column names.
PROBLEM_COLUMNS = ("problem_id", "prompt", "answer", "solution")

CRITIC_PROMPT = (
    "{problem}\n\nA student wrote this solution:\n\n{attempt}\n\nThe correct final answer is {answer}. "
    "Find the first step of the student's solution that is wrong and explain the mistake in one or two sentences."
)

#: Options every trainer gets (device options come from ``_train_device``: CPU settings only without a GPU).
_TRAIN_COMMON = {"report_to": "none", "logging_steps": 1, "save_strategy": "no"}


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def table_hash(table: pa.Table) -> str:
    """A content hash of a table (its Arrow IPC serialization)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


class Log:
    """Timestamped progress lines on stderr (tqdm bars of generation and training go there too)."""

    def __init__(self, enabled: bool = True):
        self.t0 = time.perf_counter()
        self.enabled = enabled

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ inputs


def _rename(table: pa.Table, mapping: dict[str, str], where: str, required: tuple[str, ...]) -> pa.Table:
    """The user's columns under the canonical names (``mapping``: canonical -> the user's column; one column
    may serve as two, e.g. GSM8K's ``answer`` as both gold and teacher trace). A required column missing is
    an InputError naming it, the file and the flag; an unmapped column that holds a canonical name is kept
    as ``<name>_original``."""
    flags = {"problem_id": "--id-column", "prompt": "--prompt-column", "answer": "--answer-column",
             "completion": "--completion-column", "solution": "--trace-column"}
    for canon in required:
        if mapping[canon] not in table.column_names:
            raise InputError(f"{where}: missing column {mapping[canon]!r} (columns: {', '.join(table.column_names)}; "
                             f"choose another with {flags[canon]})")
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


def load_problems(cfg: RunConfig) -> tuple[pa.Table, dict[str, str]]:
    """The problems of a run (canonical columns ``problem_id`` (string), ``prompt``, ``answer`` and, when
    there is a teacher, ``solution``; other columns kept) and the input files' sha256."""
    inputs: dict[str, str] = {}
    mapping = {"problem_id": cfg.id_column, "prompt": cfg.prompt_column, "answer": cfg.answer_column,
               "solution": cfg.trace_column}
    if cfg.problems:
        path = Path(cfg.problems)
        table = read_table(path)
        inputs[str(path)] = _sha256(path) if path.is_file() else _dir_hash(path)
        if table.num_rows == 0:
            raise InputError(f"{path}: no problems (the file has no rows)")
        if cfg.id_column not in table.column_names:
            table = table.append_column(cfg.id_column, pa.array([str(i) for i in range(table.num_rows)]))
        table = _ids_as_strings(_rename(table, mapping, str(path), ("problem_id", "prompt", "answer")), str(path))
        if cfg.max_problems:
            table = table.slice(0, cfg.max_problems)
        _check_problems(table, str(path))
    elif cfg.rollouts:
        table = None  # derived from the rollouts by load_rollouts
    else:
        from stagekit.ladder import make_ladder

        try:
            table = make_ladder(cfg.ladder_problems, seed=cfg.seed, levels=cfg.levels())
        except ValueError as e:
            raise InputError(f"ladder: {e}") from None
    return table, inputs


def _dir_hash(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode())
        h.update(_sha256(f).encode())
    return h.hexdigest()


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


def load_rollouts(cfg: RunConfig, problems: pa.Table | None) -> tuple[pa.Table, pa.Table, dict[str, str]]:
    """``--rollouts``: the scored round-0 rollouts and the problems (derived from the rollouts when no
    ``--problems`` is given: the first prompt, answer and trace of each problem id)."""
    from stagekit.transforms import score

    path = Path(cfg.rollouts or "")
    table = read_table(path)
    inputs = {str(path): _sha256(path) if path.is_file() else _dir_hash(path)}
    if table.num_rows == 0:
        raise InputError(f"{path}: no rollouts (the file has no rows)")
    mapping = {"problem_id": cfg.id_column, "prompt": cfg.prompt_column, "answer": cfg.answer_column,
               "solution": cfg.trace_column, "completion": cfg.completion_column}
    required = ("problem_id", "completion") if problems is not None else ("problem_id", "completion", "prompt", "answer")
    table = _ids_as_strings(_rename(table, mapping, str(path), required), str(path))
    if problems is None:
        cols = [c for c in PROBLEM_COLUMNS if c in table.column_names]
        firsts = table.select(cols).group_by("problem_id", use_threads=False).aggregate(
            [(c, "first") for c in cols if c != "problem_id"])
        problems = firsts.rename_columns([c.removesuffix("_first") for c in firsts.column_names]).sort_by("problem_id")
        _check_problems(problems, str(path))
    else:
        known = set(problems["problem_id"].to_pylist())
        unknown = [p for p in pc.unique(table["problem_id"]).to_pylist() if p not in known]
        if unknown:
            raise InputError(f"{path}: {len(unknown)} problem ids are not in --problems (e.g. {unknown[0]!r})")
        table = table.drop_columns([c for c in ("prompt", "answer", "solution") if c in table.column_names])
        extra = [c for c in problems.column_names if c not in table.column_names]
        table = table.join(problems.select(extra + ["problem_id"]), "problem_id") if extra else table
    if "correct" not in table.column_names or not pa.types.is_boolean(table.schema.field("correct").type):
        table = score(table)
    return table, problems, inputs


# ------------------------------------------------------------------------------------------------ students


@dataclass(frozen=True)
class Student:
    """The model sampled in a round: a backend and a model (path, hub id or served name), and its key."""

    kind: str
    model: str
    key: str
    base_url: str | None = None
    local: str | None = None  # local weights to train (None: nothing to train)


def _model_key(model: str) -> str:
    p = Path(model)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".json"))
        return _hash(str(p.resolve()), [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files])
    return _hash(model)


def initial_student(cfg: RunConfig) -> Student:
    if cfg.generator == "openai":
        model = cfg.model or "default"
        local = cfg.train_model
        return Student("openai", model, _hash("openai", cfg.base_url, model, local and _model_key(local)),
                       cfg.base_url, local)
    if cfg.model:
        model = cfg.model
    else:
        from stagekit.models import default_model

        model = str(default_model())
    return Student(cfg.generator, model, _model_key(model), None, model)


def make_generator(kind: str, model: str, base_url: str | None, cfg: RunConfig) -> Any:
    from stagekit.generate import OpenAIGenerator

    if kind == "openai":
        return OpenAIGenerator(base_url or "", model, api_key=os.environ.get(cfg.api_key_env))
    if kind == "vllm":
        from stagekit.generate import VLLMGenerator

        return VLLMGenerator(model, seed=cfg.seed)
    from stagekit.generate import TransformersGenerator

    return TransformersGenerator(model, batch_size=cfg.batch_size)


# ------------------------------------------------------------------------------------------------ the loop


class Loop:
    """One ``stagekit run``: the run directory, its manifest and the cached steps."""

    def __init__(self, cfg: RunConfig, log: Log | None = None):
        self.cfg = cfg
        self.log = log or Log(cfg.progress)
        self.run = RunDir(cfg.out)
        if self.run.manifest_path.is_file():
            self.manifest = self.run.manifest()
            if self.manifest.get("command") != "run":
                raise InputError(f"{cfg.out}: holds a `stagekit {self.manifest.get('command')}` output, not a run; "
                                 "choose another --out")
            self.manifest.setdefault("steps", {})
        elif self.run.path.exists() and any(self.run.path.iterdir()):
            raise InputError(f"{cfg.out}: exists, is not empty and is not a stagekit run directory; choose another --out")
        else:
            self.manifest = {"command": "run", "steps": {}}
        self._gen_cache: tuple[tuple, Any] | None = None
        self._notes: dict[str, Any] = {}
        self.given_rollouts: pa.Table | None = None

    # -- step cache ------------------------------------------------------------------------------------

    def step(self, name: str, parts: dict[str, Any], fn: Callable[[], list[str]], *, force: bool = False) -> str:
        """Run ``fn`` (which writes its outputs and returns their paths relative to the run directory)
        unless the manifest holds this step with the same key and its outputs exist (or ``force``)."""
        key = _hash(name, parts)
        rec = self.manifest["steps"].get(name)
        if not force and rec and rec["key"] == key and all((self.run.path / o).exists() for o in rec["outputs"]):
            self.log(f"{name}: done earlier (key {key}), skipped")
            return key
        self.log(f"{name} ...")
        self._notes = {}
        t0 = time.perf_counter()
        outputs = fn()
        dt = time.perf_counter() - t0
        self.manifest["steps"][name] = {"key": key, "outputs": outputs, "seconds": round(dt, 2), **self._notes}
        self._notes = {}
        self._save()
        self.log(f"{name}: {dt:.1f} s")
        return key

    def note(self, **kw: Any) -> None:
        """Facts about the step in progress, kept in its manifest entry (losses, rewards, why skipped)."""
        self._notes = {**self._notes, **kw}

    def _save(self) -> None:
        self.manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.run.write_manifest(self.manifest)

    def _write(self, r: int, name: str, table: pa.Table) -> str:
        write_table(table, self.run.table_path(r, name))
        return f"round-{r}/{name}.parquet"

    def _read(self, r: int, name: str) -> pa.Table:
        t = self.run.read_table(r, name)
        if t is None:
            raise RuntimeError(f"{self.run.table_path(r, name)} is missing")
        return t

    def generator(self, kind: str, model: str, base_url: str | None) -> Any:
        """The generator for a model, loaded once and reused while the model does not change."""
        ident = (kind, model, base_url)
        if self._gen_cache is None or self._gen_cache[0] != ident:
            self._gen_cache = None
            self.log(f"loading {kind} generator: {model}")
            self._gen_cache = (ident, make_generator(kind, model, base_url, self.cfg))
        return self._gen_cache[1]

    def sample(self, table: pa.Table, student: Student, *, n: int, max_new_tokens: int, seed: int,
               order: tuple[str, ...], prompt: str = "prompt") -> pa.Table:
        """``n`` completions per row from the student: in this process, or with ``--engine ray
        --ray-actors N`` in a pool of Ray actors that each build the generator once."""
        from stagekit.generate import generate

        c = self.cfg
        opts = {"n": n, "prompt": prompt, "max_new_tokens": max_new_tokens, "seed": seed,
                "temperature": c.temperature, "top_p": c.top_p}
        if c.engine == "ray" and c.ray_actors:
            import functools

            from stagekit.integrations import ray as skray

            skray.init(c.address)
            factory = functools.partial(make_generator, student.kind, student.model, student.base_url, c)
            ds = skray.generate(skray.dataset(table), factory, actors=c.ray_actors, num_gpus=c.ray_gpus or None, **opts)
            return skray.collect(ds, sort_by=order)
        gen = self.generator(student.kind, student.model, student.base_url)
        return generate(table, gen, show_progress=c.progress, **opts)

    # -- steps -----------------------------------------------------------------------------------------

    def measure(self, r: int, student: Student, problems: pa.Table, problems_key: str) -> str:
        from stagekit.transforms import score

        c = self.cfg
        if r == 0 and self.given_rollouts is not None:
            given = self.given_rollouts
            return self.step("round-0/measure", {"rollouts": table_hash(given)},
                             lambda: [self._write(0, "rollouts", given)])

        def fn() -> list[str]:
            rollouts = self.sample(problems, student, n=c.k, max_new_tokens=c.max_new_tokens, seed=c.seed * 1000 + r,
                                   order=("problem_id", "sample"))
            return [self._write(r, "rollouts", score(rollouts))]

        parts = {"problems": problems_key, "student": student.key, "backend": student.kind, "k": c.k,
                 "max_new_tokens": c.max_new_tokens, "seed": c.seed, "temperature": c.temperature, "top_p": c.top_p}
        return self.step(f"round-{r}/measure", parts, fn)

    def plan(self, r: int, measure_key: str, problems: pa.Table) -> str:
        c = self.cfg
        config = PlanConfig(scheme=c.scheme, k=tuple(sorted({1, c.k // 2 or 1, c.k})),
                            problem_columns=tuple(x for x in problems.column_names if x != "problem_id"))

        def fn() -> list[str]:
            from stagekit.pipeline import plan

            tables = plan(self._read(r, "rollouts"), config, problems, engine=c.engine, address=c.address)
            return [self._write(r, name, tables[name]) for name in ("stats", "sft", "rl", "drop")]

        return self.step(f"round-{r}/plan", {"measure": measure_key, "scheme": c.scheme, "k": c.k, "engine": c.engine}, fn)

    def bridge(self, r: int, plan_key: str, student: Student) -> str:
        from stagekit.transforms import bridge_prompts, score, segment_steps, select_bridge

        c = self.cfg

        def fn() -> list[str]:
            sft = self._read(r, "sft")
            hard = sft.filter(pc.fill_null(sft["bridge"], False)) if "bridge" in sft.column_names else sft.slice(0, 0)
            if "solution" in hard.column_names:
                hard = hard.filter(pc.is_valid(hard["solution"]))
            else:
                hard = hard.slice(0, 0)
            prompts = bridge_prompts(segment_steps(hard, trace="solution"), cuts=c.cuts()) if hard.num_rows else None
            if prompts is None or prompts.num_rows == 0:
                self.note(skipped="no hard SFT problem with a teacher trace of two or more steps")
                cont = pa.table({"problem_id": pa.array([], pa.string()), "cut": pa.array([], pa.int32()),
                                 "bridge_prompt": pa.array([], pa.string()), "completion": pa.array([], pa.string()),
                                 "correct": pa.array([], pa.bool_())})
                chosen = _empty_bridge()
            else:
                self.log(f"round-{r}/bridge: {prompts.num_rows} prefixes of {hard.num_rows} problems "
                         f"x {c.bridge_samples} continuations")
                cont = score(self.sample(prompts.drop_columns(["steps"]), student, prompt="bridge_prompt",
                                         n=c.bridge_samples, max_new_tokens=c.bridge_max_new_tokens,
                                         seed=c.seed * 1000 + 500 + r, order=("problem_id", "cut", "sample")))
                chosen = select_bridge(cont, tau=c.bridge_tau, trace="solution")
                self.note(problems=hard.num_rows, prefixes=prompts.num_rows,
                          learnable=int(pc.sum(pc.invert(chosen["fallback"])).as_py() or 0))
            return [self._write(r, "bridge_rollouts", cont), self._write(r, "bridge", chosen)]

        parts = {"plan": plan_key, "student": student.key, "backend": student.kind, "cuts": c.bridge_cuts, "n": c.bridge_samples,
                 "tau": c.bridge_tau, "tokens": c.bridge_max_new_tokens, "seed": c.seed, "temperature": c.temperature,
                 "top_p": c.top_p}
        return self.step(f"round-{r}/bridge", parts, fn)

    def sft_data(self, r: int, plan_key: str, bridge_key: str, prev_cft_key: str | None) -> str:
        from stagekit.transforms import to_sft

        def fn() -> list[str]:
            parts = []
            sft = self._read(r, "sft")
            if "solution" in sft.column_names:
                plain = sft.filter(pc.and_(pc.invert(pc.fill_null(sft["bridge"], False)), pc.is_valid(sft["solution"])))
                parts.append(_records(plain, "solution", "teacher"))
            bridge = self._read(r, "bridge")
            parts.append(_records(bridge, "target", pc.if_else(bridge["fallback"], "teacher", "bridge")))
            if prev_cft_key is not None:
                cft = self._read(r - 1, "cft")
                parts.append(_records(cft, "response", pc.binary_join_element_wise("cft_", cft["kind"], "")))
            table = pa.concat_tables(parts)
            self.note(rows={s: n for s, n in _count(table["source"]).items()})
            return [self._write(r, "sft_train", to_sft(table, format="prompt_completion", keep=["problem_id", "source"]))]

        return self.step(f"round-{r}/sft_data", {"plan": plan_key, "bridge": bridge_key, "cft": prev_cft_key}, fn)

    def train_sft(self, r: int, data_key: str, student: Student, *, force: bool = False) -> tuple[str, Student]:
        c = self.cfg
        out = f"round-{r}/sft-model"
        parts = {"data": data_key, "student": student.key, "steps": c.sft_steps, "bs": c.sft_batch_size,
                 "lr": c.sft_learning_rate, "max_length": c.sft_max_length, "seed": c.seed}
        rows = self._read(r, "sft_train").num_rows
        if not c.train or c.sft_steps == 0 or rows == 0 or student.local is None:
            why = ("--no-train" if not c.train else "--sft-steps 0" if c.sft_steps == 0 else
                   "no SFT examples this round" if rows == 0 else "no local weights to train (--train-model)")
            key = self.step(f"round-{r}/sft", {**parts, "skipped": why}, lambda: self._skip(why))
            return key, student

        def fn() -> list[str]:
            from trl import SFTConfig, SFTTrainer

            from stagekit.integrations.trl import _dataset

            dataset = _dataset(self._read(r, "sft_train").drop_columns(["problem_id", "source"]))
            tok = _tokenizer(student.local)
            with _scratch(self.run.path / f"round-{r}") as scratch:
                args = SFTConfig(output_dir=str(scratch / "trainer"), max_steps=c.sft_steps,
                                 per_device_train_batch_size=c.sft_batch_size, learning_rate=c.sft_learning_rate,
                                 max_length=c.sft_max_length, seed=c.seed, disable_tqdm=not c.progress,
                                 **_train_device(), **_TRAIN_COMMON)
                trainer = SFTTrainer(model=student.local, args=args, train_dataset=dataset, processing_class=tok)
                trainer.train()
                self.note(losses=[round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h])
                _save_model(trainer, tok, scratch / "model", self.run.path / out)
            return [out]

        key = self.step(f"round-{r}/sft", parts, fn, force=force)
        path = str(self.run.path / out)
        return key, Student("transformers" if student.kind == "openai" else student.kind, path, key, None, path)

    def train_rl(self, r: int, plan_key: str, sft_key: str, student: Student,
                 rebuild: Callable[[], object]) -> tuple[str, Student]:
        """GRPO from the SFT model. ``rebuild`` retrains that model when it was removed (after an earlier
        run of this round finished) and the RL step has to run again."""
        from stagekit.transforms import to_grpo

        c = self.cfg
        rl = self._read(r, "rl")
        out = f"round-{r}/student"
        parts = {"plan": plan_key, "sft": sft_key, "steps": c.grpo_steps, "prompts": c.grpo_prompts,
                 "G": c.num_generations, "tokens": c.grpo_max_completion_length, "lr": c.grpo_learning_rate,
                 "temperature": c.temperature, "seed": c.seed}
        if not c.train or c.grpo_steps == 0 or rl.num_rows == 0 or student.local is None:
            why = ("--no-train" if not c.train else "--grpo-steps 0" if c.grpo_steps == 0 else
                   "no RL problems this round" if rl.num_rows == 0 else "no local weights to train (--train-model)")

            def skip() -> list[str]:
                self.note(skipped=why)
                return [self._write(r, "rl_train", to_grpo(rl)), self._write(r, "rl_rollouts", _empty_rl_rollouts())]

            key = self.step(f"round-{r}/rl", {**parts, "skipped": why}, skip)
            return key, student

        def fn() -> list[str]:
            from trl import GRPOConfig, GRPOTrainer

            from stagekit.integrations.trl import RolloutRecorder, _dataset, accuracy_reward, format_reward

            if student.local and not Path(student.local).exists():
                self.log(f"round-{r}/rl: the SFT model was removed after an earlier run; training it again")
                rebuild()
            train = to_grpo(rl)
            written = [self._write(r, "rl_train", train)]
            tok = _tokenizer(student.local)
            prompts = min(c.grpo_prompts, rl.num_rows)
            with _scratch(self.run.path / f"round-{r}") as scratch:
                rec = RolloutRecorder(scratch / "recorded", chunk_rows=64)
                args = GRPOConfig(output_dir=str(scratch / "trainer"), max_steps=c.grpo_steps,
                                  per_device_train_batch_size=prompts * c.num_generations,
                                  generation_batch_size=prompts * c.num_generations, num_generations=c.num_generations,
                                  max_completion_length=c.grpo_max_completion_length, beta=0.0,
                                  temperature=c.temperature, learning_rate=c.grpo_learning_rate, seed=c.seed,
                                  reward_weights=[1.0, 0.1], disable_tqdm=not c.progress, **_train_device(),
                                  **_TRAIN_COMMON)
                trainer = GRPOTrainer(model=student.local, reward_funcs=rec.wrap([accuracy_reward, format_reward]),
                                      args=args, train_dataset=_dataset(train), processing_class=tok,
                                      callbacks=[rec.callback()])
                trainer.train()
                rec.flush()
                hist = [h for h in trainer.state.log_history if "reward" in h]
                self.note(rewards=[round(h["reward"], 4) for h in hist])
                rollouts = RolloutRecorder.read(scratch / "recorded")
                written.append(self._write(r, "rl_rollouts", rollouts))
                _save_model(trainer, tok, scratch / "model", self.run.path / out)
            return [*written, out]

        key = self.step(f"round-{r}/rl", parts, fn)
        path = str(self.run.path / out)
        return key, Student("transformers" if student.kind == "openai" else student.kind, path, key, None, path)

    def cft(self, r: int, rl_key: str, problems: pa.Table, student: Student) -> str:
        from stagekit.transforms import cft_records, zero_reward_groups
        from stagekit.transforms._contract import explode

        c = self.cfg

        def fn() -> list[str]:
            rl = self._read(r, "rl_rollouts")
            # The recorder's prompt is the rendered conversation: the problem's own columns are attached below.
            zero = zero_reward_groups(rl, by=("problem_id", "step"), include_all_correct=False, keep=())
            self.note(groups=int(rl.group_by(["problem_id", "step"]).aggregate([]).num_rows) if rl.num_rows else 0,
                      zero_groups=zero.num_rows)
            ptab = problems.select([x for x in PROBLEM_COLUMNS if x in problems.column_names])
            failures = _attach(zero, ptab) if zero.num_rows else _empty_failures(ptab)
            attempts = explode(failures, "completions", into="completion")
            critiques = None
            if c.critic == "generator" and attempts.num_rows:
                critic = Student(c.critic_generator or student.kind, c.critic_model or student.model, "critic",
                                 c.critic_base_url or c.base_url)
                # problem_id = the attempt's row, so critiques come back in the attempts' order (also from Ray).
                asks = pa.table({"problem_id": pa.array(range(attempts.num_rows), pa.int64()), "prompt": [
                    CRITIC_PROMPT.format(problem=p, attempt=a, answer=g) for p, a, g in zip(
                        attempts["prompt"].to_pylist(), attempts["completion"].to_pylist(),
                        attempts["answer"].to_pylist(), strict=True)]})
                out = self.sample(asks, critic, n=1, max_new_tokens=c.bridge_max_new_tokens,
                                  seed=c.seed * 1000 + 700 + r, order=("problem_id", "sample"))
                attempts = attempts.append_column("critique", out["completion"])
                critiques = "critique"
            # Without a teacher trace (no `solution` column) there are diagnoses only: no repair or new trace.
            records = cft_records(attempts, critiques=critiques, reference="solution")
            self.note(records={k: n for k, n in _count(records["kind"]).items()})
            return [self._write(r, "cft", records)]

        parts = {"rl": rl_key, "critic": c.critic}
        if c.critic == "generator":
            parts |= {"critic_model": c.critic_model or student.key, "critic_generator": c.critic_generator,
                      "critic_url": c.critic_base_url, "seed": c.seed}
        return self.step(f"round-{r}/cft", parts, fn)

    def _remove_sft_model(self, r: int) -> None:
        """The SFT model is an intermediate (the RL step starts from it): removed once the round's student
        exists; the SFT step's record keeps its key, so a resumed run does not retrain it unless the RL step
        has to run again."""
        rec = self.manifest["steps"].get(f"round-{r}/sft")
        path = self.run.path / f"round-{r}" / "sft-model"
        if rec and path.is_dir():
            rec["outputs"] = []
            rec["removed"] = [f"round-{r}/sft-model"]
            self._save()
            shutil.rmtree(path)

    def _skip(self, why: str) -> list[str]:
        self.note(skipped=why)
        return []

    # -- the whole run ---------------------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        c = self.cfg
        self.log(f"stagekit run -> {self.run.path}")
        problems, inputs = load_problems(c)
        if c.rollouts:
            self.given_rollouts, problems, more = load_rollouts(c, problems)
            inputs |= more
        assert problems is not None
        problems_key = table_hash(problems)
        self.manifest.update(
            config=asdict(c), versions=_versions(), inputs=inputs,
            problems={"rows": problems.num_rows, "key": problems_key,
                      "source": c.problems or c.rollouts or f"ladder(n={c.ladder_problems}, levels={c.ladder_levels}, seed={c.seed})"},
            created=self.manifest.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        )
        self._save()  # the manifest first: a directory with one is a run directory, resumable
        write_table(problems, self.run.path / "problems.parquet")
        if c.threads:
            import torch

            torch.set_num_threads(c.threads)
        student = initial_student(c)
        rounds = c.rounds if c.train else 0
        cft_key: str | None = None
        for r in range(rounds + 1):
            m = self.measure(r, student, problems, problems_key)
            p = self.plan(r, m, problems)
            if r == rounds:
                break
            b = self.bridge(r, p, student)
            d = self.sft_data(r, p, b, cft_key)
            s, after_sft = self.train_sft(r, d, student)
            rl, trained = self.train_rl(r, p, s, after_sft, lambda: self.train_sft(r, d, student, force=True))
            if trained is not after_sft:
                self._remove_sft_model(r)
            student = trained
            cft_key = self.cft(r, rl, problems, student)
        if not c.train:  # the data loop alone: Bridge and the SFT set of round 0
            b = self.bridge(0, p, student)
            self.sft_data(0, p, b, None)
        self.manifest["rounds"] = self.round_summaries(rounds)
        self.manifest["moved"] = moved(self._read(0, "stats"), self._read(rounds, "stats"), problems)
        self.manifest["student"] = student.model
        self._save()
        return self.manifest

    def round_summaries(self, rounds: int) -> list[dict[str, Any]]:
        """Per round: row counts of every table written, the Bridge count, the mean pass rate, the steps."""
        import pyarrow.parquet as pq

        out = []
        for r in range(rounds + 1):
            rows = {}
            for name in ("rollouts", "stats", "sft", "rl", "drop", "bridge", "sft_train", "rl_train", "rl_rollouts", "cft"):
                p = self.run.table_path(r, name)
                if p.is_file():
                    rows[name] = pq.ParquetFile(p).metadata.num_rows
            stats = self._read(r, "stats")
            rec = {"round": r, "rows": rows, "bridge": int(pc.sum(stats["bridge"]).as_py() or 0),
                   "pass_rate_mean": float(pc.mean(stats["pass_rate"]).as_py() or 0.0),
                   "steps": {k.split("/", 1)[1]: v for k, v in self.manifest["steps"].items() if k.startswith(f"round-{r}/")}}
            out.append(rec)
        return out


# ------------------------------------------------------------------------------------------------ helpers


_RECORDS = pa.schema([("problem_id", pa.string()), ("prompt", pa.string()), ("completion", pa.string()),
                      ("source", pa.string())])


def _records(table: pa.Table, completion: str, source: Any) -> pa.Table:
    """SFT examples (problem_id, prompt, completion, source) from a stage table."""
    src = source if isinstance(source, (pa.Array, pa.ChunkedArray)) else pa.array([source] * table.num_rows, pa.string())
    return pa.table({"problem_id": table["problem_id"], "prompt": table["prompt"], "completion": table[completion],
                     "source": src}).cast(_RECORDS)


def _attach(table: pa.Table, problems: pa.Table) -> pa.Table:
    """``table`` with the columns of its problems appended (a lookup on ``problem_id``; Arrow's join cannot
    carry list columns such as ``completions``)."""
    idx = pc.index_in(table["problem_id"], value_set=problems["problem_id"])
    if idx.null_count:
        raise RuntimeError("rollouts name problem ids that are not among the run's problems")
    rows = problems.take(idx)
    for name in rows.column_names:
        if name != "problem_id":
            table = table.append_column(name, rows[name])
    return table


def _count(col: pa.ChunkedArray) -> dict[str, int]:
    vc = pc.value_counts(col)
    return {v["values"].as_py(): v["counts"].as_py() for v in vc}


def _empty_bridge() -> pa.Table:
    return pa.table({"problem_id": pa.array([], pa.string()), "prompt": pa.array([], pa.string()),
                     "cut": pa.array([], pa.int32()), "cut_pass_rate": pa.array([], pa.float64()),
                     "target": pa.array([], pa.string()), "fallback": pa.array([], pa.bool_()),
                     "over_cap": pa.array([], pa.bool_())})


def _empty_rl_rollouts() -> pa.Table:
    return pa.table({"step": pa.array([], pa.int64()), "problem_id": pa.array([], pa.string()),
                     "prompt": pa.array([], pa.string()), "completion": pa.array([], pa.string()),
                     "answer": pa.array([], pa.string()), "correct": pa.array([], pa.bool_())})


def _empty_failures(ptab: pa.Table) -> pa.Table:
    t = ptab.slice(0, 0)
    return t.append_column("completions", pa.array([], pa.list_(pa.string())))


def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _train_device() -> dict[str, Any]:
    import torch

    return {} if torch.cuda.is_available() else {"use_cpu": True, "bf16": False}


def _save_model(trainer: Any, tok: Any, tmp: Path, target: Path) -> None:
    """Save the trained model and tokenizer to ``tmp``, then move it into place."""
    trainer.save_model(str(tmp))
    tok.save_pretrained(str(tmp))
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


class _scratch:
    """A hidden scratch directory for a trainer's files, removed when the step ends (or is interrupted)."""

    def __init__(self, parent: Path):
        parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=".scratch-", dir=parent))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def moved(before: pa.Table, after: pa.Table, problems: pa.Table) -> dict[str, Any]:
    """What moved between two measurements of the same problems: mean pass rate, stage transitions
    (``sft->rl`` ...) and, where the problems have a ``level`` column, the pass rate per level."""
    b = {k: (p, s) for k, p, s in zip(before["problem_id"].to_pylist(), before["pass_rate"].to_pylist(),
                                       before["stages"].to_pylist(), strict=True)}
    a = {k: (p, s) for k, p, s in zip(after["problem_id"].to_pylist(), after["pass_rate"].to_pylist(),
                                      after["stages"].to_pylist(), strict=True)}
    common = sorted(set(a) & set(b))
    trans: dict[str, int] = {}
    up = down = 0
    for k in common:
        key = f"{_stage(b[k][1])}->{_stage(a[k][1])}"
        trans[key] = trans.get(key, 0) + 1
        up += a[k][0] > b[k][0]
        down += a[k][0] < b[k][0]
    out: dict[str, Any] = {
        "problems": len(common),
        "pass_rate_before": sum(b[k][0] for k in common) / max(len(common), 1),
        "pass_rate_after": sum(a[k][0] for k in common) / max(len(common), 1),
        "improved": up, "worsened": down, "transitions": dict(sorted(trans.items())),
    }
    if "level" in problems.column_names:
        level = dict(zip(problems["problem_id"].to_pylist(), problems["level"].to_pylist(), strict=True))
        per: dict[int, list[float]] = {}
        for k in common:
            per.setdefault(level[k], [0.0, 0.0, 0])
            per[level[k]][0] += b[k][0]
            per[level[k]][1] += a[k][0]
            per[level[k]][2] += 1
        out["by_level"] = {str(lv): {"before": v[0] / v[2], "after": v[1] / v[2], "problems": v[2]}
                           for lv, v in sorted(per.items())}
    return out


def _stage(stages: str | None) -> str:
    """A problem's stage label for transitions: ``bridge`` (SFT through the Bridge), ``sft``, ``rl``,
    ``sft+rl``, ``drop``."""
    return (stages or "drop").replace("sft_bridge", "bridge")


def run(cfg: RunConfig, log: Log | None = None) -> dict[str, Any]:
    """Run the stage loop (``stagekit run``) and return the manifest; the report is written beside it."""
    from stagekit.report import write_report

    loop = Loop(cfg, log)
    manifest = loop.execute()
    write_report(cfg.out)
    return manifest
