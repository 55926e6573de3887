"""Deterministic stand-ins for the model and the trainers of ``stagekit run``, for fast tests of the whole loop
(every step, training included) and for subprocess tests of the command itself.

:class:`StandInFactory` is a generator factory (``factory(student, cfg) -> Generator``): its generator's
completions depend on everything a real backend's do — the prompt, the sample, the seed, temperature,
top_p, max_new_tokens, the model (a trained model's ``skill.json``) and the batch size (TransformersGenerator's
completions change with the batch a prompt is padded in) — so a step whose key left one of them out would
give results that differ from a fresh run's. :class:`StandInTrainer` writes a "model" whose ``skill.json``
records the options and data it was trained with, and GRPO rollouts from the stand-in generator.

``python tests/stand_in.py run ARGS...`` runs ``stagekit run ARGS`` with the stand-in generator (the problems
of ``--ladder-problems``/``--ladder-levels``/``--seed`` as given, the ``--quick`` defaults otherwise)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

import stagekit as sk


def _h(*parts: Any) -> float:
    return int(hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest(), 16) % 100_000 / 100_000


def _text(prompt: Any) -> str:
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) for m in prompt)
    return str(prompt)


class StandIn:
    """A generator: sample ``i`` of a prompt is correct when a hash of everything it depends on falls under
    the problem's solve rate (falling with the ladder level, rising with the model's training)."""

    name = "stand-in"

    def __init__(self, golds: list[tuple[str, str, int]], model: str, batch_size: int, scale: float = 1.0):
        self.golds, self.model, self.batch_size, self.scale = golds, model, batch_size, scale
        self.exact = {text: (gold, level) for text, gold, level in golds}
        skill = Path(model) / "skill.json"
        self.skill = json.loads(skill.read_text()) if skill.is_file() else None
        self.calls: list[int] = []

    def _gold(self, prompt: str) -> tuple[str, int]:
        if prompt in self.exact:
            return self.exact[prompt]
        best = None
        for text, gold, level in self.golds:
            if text in prompt and (best is None or len(text) > len(best[0])):
                best = (text, gold, level)
        if best is None:
            raise AssertionError(f"stand-in: unknown prompt {prompt[:80]!r}")
        return best[1], best[2]

    def generate(self, prompts: list[Any], *, n: int, sampling: Any) -> list[list[str]]:
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            text = _text(p)
            gold, level = self._gold(text)
            rate = (max(0.0, 1.0 - (level - 1) / 3) + (0.2 if self.skill else 0.0)) * self.scale
            row = []
            for i in range(n):
                h = _h(text, i, sampling.seed, sampling.temperature, sampling.top_p, sampling.max_new_tokens,
                       self.skill, self.batch_size)
                row.append(f"Let me think ({h:.5f}).\nThe answer is \\boxed{{{gold}}}." if h < rate
                           else f"I think ({h:.5f}) it is \\boxed{{-1}}.")
            out.append(row)
        return out


class StandInFactory:
    """``factory(student, cfg)``: a :class:`StandIn` for the student's model, built with ``cfg.batch_size``.
    It knows the golds of ``problems`` (``prompt``, ``answer``) and of ``heldout`` (benchmark rows: ``prompt``,
    ``gold``; e.g. :func:`heldout_of`)."""

    def __init__(self, problems: pa.Table, heldout: pa.Table | None = None):
        self.golds = [(r["prompt"], sk.extract_gold(r["answer"]), r.get("level") or 3) for r in problems.to_pylist()]
        if heldout is not None:
            self.golds += [(r["prompt"], r["gold"], r.get("level") or 3) for r in heldout.to_pylist()]
        self.made: list[StandIn] = []

    def __call__(self, student: Any, cfg: Any) -> StandIn:
        gen = StandIn(self.golds, student.model, cfg.batch_size)
        self.made.append(gen)
        return gen

    @property
    def calls(self) -> int:
        return sum(len(g.calls) for g in self.made)


def heldout_of(cfg: Any) -> pa.Table | None:
    """Every candidate held-out row a run with ``cfg`` may evaluate (``--eval``), or None."""
    from stagekit.heldout import load_heldout

    benches = load_heldout(cfg) if cfg.eval_names() else []
    return pa.concat_tables([b.rows.select(["prompt", "gold"]) for b in benches]) if benches else None


def _table_digest(table: pa.Table) -> str:
    return hashlib.sha256(json.dumps(table.to_pylist(), default=str, sort_keys=True).encode()).hexdigest()[:16]


class StandInTrainer:
    """A trainer (``stagekit.training.Trainer``) that trains nothing: the "model" it saves is a ``skill.json``
    of the options and data it got (read through the step's config view) and the model it started from."""

    def __init__(self, factory: StandInFactory):
        self.factory = factory

    @staticmethod
    def _base(model: str) -> Any:
        skill = Path(model) / "skill.json"
        return json.loads(skill.read_text()) if skill.is_file() else model

    def sft(self, ctx: Any, *, model: str, examples: pa.Table, work: Path) -> Path:
        c = ctx.cfg
        out = work / "model"
        out.mkdir()
        skill = {"base": self._base(model), "sft": [c.sft_steps, c.sft_batch_size, c.sft_learning_rate, c.sft_max_length,
                                                    c.seed], "data": _table_digest(examples)}
        (out / "skill.json").write_text(json.dumps(skill, sort_keys=True))
        ctx.note(losses=[round(1.0 / (1 + i + _h(skill)), 4) for i in range(c.sft_steps)])
        return out

    def grpo(self, ctx: Any, *, model: str, problems: pa.Table, work: Path) -> tuple[Path, pa.Table]:
        c = ctx.cfg
        params = [c.grpo_steps, c.grpo_prompts, c.num_generations, c.grpo_max_completion_length, c.grpo_learning_rate,
                  c.temperature, c.seed]
        gen = StandIn(self.factory.golds, model, 1, scale=0.5)  # GRPO's short completions fail more
        rows = problems.to_pylist()
        prompts = min(c.grpo_prompts, len(rows))
        out = []
        for s in range(c.grpo_steps):
            batch = [rows[(s * prompts + j) % len(rows)] for j in range(prompts)]
            sampling = sk.generate.Sampling(temperature=c.temperature, max_new_tokens=c.grpo_max_completion_length,
                                            seed=c.seed * 100 + s, show_progress=False)
            comps = gen.generate([r["prompt"] for r in batch], n=c.num_generations, sampling=sampling)
            for r, cs in zip(batch, comps, strict=True):
                for text in cs:
                    ok = sk.verify(text, r["answer"])
                    out.append({"step": s, "problem_id": str(r["problem_id"]), "prompt": _text(r["prompt"]),
                                "completion": text, "answer": r["answer"], "correct": ok,
                                "reward_accuracy": float(ok)})
        schema = pa.schema([("step", pa.int64()), ("problem_id", pa.string()), ("prompt", pa.string()),
                            ("completion", pa.string()), ("answer", pa.string()), ("correct", pa.bool_()),
                            ("reward_accuracy", pa.float64())])
        ctx.note(rewards=[round(_h(params, s), 4) for s in range(c.grpo_steps)])
        model_dir = work / "model"
        model_dir.mkdir()
        (model_dir / "skill.json").write_text(json.dumps({"base": self._base(model), "grpo": params,
                                                          "data": _table_digest(problems)}, sort_keys=True))
        return model_dir, pa.Table.from_pylist(out, schema=schema)


def main(argv: list[str]) -> int:
    """``stagekit run`` / ``stagekit plan`` with the stand-in generator (the CLI's own code path)."""
    from stagekit.cli import main as cli
    from stagekit.config import QUICK, RunConfig
    from stagekit.ladder import make_ladder

    def opt(name: str, default: Any) -> Any:
        flag = "--" + name.replace("_", "-")
        return type(default)(argv[argv.index(flag) + 1]) if flag in argv else default

    quick = "--quick" in argv
    n = opt("ladder_problems", QUICK["ladder_problems"] if quick else RunConfig.ladder_problems)
    levels = opt("ladder_levels", QUICK["ladder_levels"] if quick else RunConfig.ladder_levels)
    problems = make_ladder(n, seed=opt("seed", 0), levels=[int(x) for x in levels.split(",")])
    held = heldout_of(RunConfig(ladder_levels=levels, seed=opt("seed", 0), eval=opt("eval", "auto"),
                                eval_problems=opt("eval_problems", QUICK["eval_problems"] if quick else RunConfig.eval_problems)))
    return cli([*argv, "--model", "stand-in"] if argv[0] == "run" else argv,
               generator_factory=StandInFactory(problems, held))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
