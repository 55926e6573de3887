"""Students and generators of ``stagekit run``: the model sampled in a round (:class:`Student`), the initial
student (the runner's ``student`` source, :data:`STUDENT`), the default generator factory
(:func:`make_generator`) and :func:`sample`, through which every sampling step draws completions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from stagekit.runner import StepContext, source, stable_hash

__all__ = ["SAMPLING_READS", "STUDENT", "STUDENT_READS", "Student", "critic_student", "make_generator", "make_student",
           "model_key", "sample"]

#: The options every sampling step reads: the sampling settings, what the generator is built from
#: (``batch_size`` changes TransformersGenerator's completions; ``seed`` vLLM's), and where it runs.
SAMPLING_READS = ("temperature", "top_p", "seed", "batch_size", "ray_actors", "ray_gpus")

#: The options the initial student is made from.
STUDENT_READS = ("generator", "model", "base_url", "train_model")


@dataclass(frozen=True)
class Student:
    """The model sampled in a round: a backend and a model (path, hub id or served name), and its key."""

    kind: str
    model: str
    key: str
    base_url: str | None = None
    local: str | None = None  # local weights to train (None: nothing to train)


def model_key(model: str) -> str:
    """A key for a model: a local directory by its path and its weight and config files' sizes and times;
    anything else by its name."""
    p = Path(model)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".json"))
        return stable_hash(str(p.resolve()), [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files])
    return stable_hash(model)


def make_student(kind: str, model: str | None = None, *, base_url: str | None = None,
                 train_model: str | None = None) -> Student:
    """A student: ``model`` (default: the default model) sampled with backend ``kind``; with ``openai`` the
    served model at ``base_url`` (default name ``default``), trained (when ``train_model`` is given) from
    those local weights. Its key changes when the model does (a local directory: its files)."""
    if kind == "openai":
        served = model or "default"
        key = stable_hash("openai", base_url, served, train_model and model_key(train_model))
        return Student("openai", served, key, base_url, train_model)
    if not model:
        from stagekit.models import default_model

        model = str(default_model())
    return Student(kind, model, stable_hash(kind, model_key(model)), None, model)


@source("student", reads=STUDENT_READS)
def STUDENT(cfg: Any) -> tuple[Student, str]:
    """The student of round 0: ``--model`` (or the default model) with ``--generator``; with ``--generator
    openai`` the served model, trained (when ``--train-model`` is given) from local weights."""
    s = make_student(cfg.generator, cfg.model, base_url=cfg.base_url, train_model=cfg.train_model)
    return s, s.key


def critic_student(cfg: Any, student: Student) -> Student:
    """The LLM critic (``--critic generator``): ``--critic-generator``/``--critic-model``/``--critic-base-url``,
    each defaulting to the round's student (and ``--base-url``)."""
    return Student(cfg.critic_generator or student.kind, cfg.critic_model or student.model, "critic",
                   cfg.critic_base_url or cfg.base_url)


def make_generator(student: Student, cfg: Any) -> Any:
    """The default generator factory: the backend named by the student's kind, built from the options
    (read through the calling step's config view)."""
    from stagekit.generate import OpenAIGenerator

    if student.kind == "openai":
        return OpenAIGenerator(student.base_url or "", student.model, api_key=os.environ.get(cfg.api_key_env))
    if student.kind == "vllm":
        from stagekit.generate import VLLMGenerator

        return VLLMGenerator(student.model, seed=cfg.seed)
    from stagekit.generate import TransformersGenerator

    return TransformersGenerator(student.model, batch_size=cfg.batch_size)


def sample(ctx: StepContext, table: pa.Table, student: Student, *, n: int, max_new_tokens: int, seed: int,
           order: tuple[str, ...], prompt: str = "prompt") -> pa.Table:
    """``n`` completions per row from the student, through the runner's engine (in this process, or in
    Ray actors with ``--engine ray --ray-actors N``) and generator factory."""
    c = ctx.cfg
    # Where the samples are drawn is part of what they are (batches differ between placements).
    _ = c.ray_actors, c.ray_gpus  # (read through the step's view: the keys include them)
    assert ctx.engine is not None, "the runner has no engine"
    return ctx.engine.generate(table, ctx.generator(student), n=n, prompt=prompt, order=order,
                               show_progress=c.progress, max_new_tokens=max_new_tokens, seed=seed,
                               temperature=c.temperature, top_p=c.top_p)
