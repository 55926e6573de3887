"""Training in ``stagekit run``: the :class:`Trainer` the SFT and RL steps call, and :class:`TrlTrainer`, the
default (trl's ``SFTTrainer`` and ``GRPOTrainer`` with a :class:`~stagekit.integrations.trl.RolloutRecorder`).

A trainer reads its options through the step's config view (``ctx.cfg``), so the step must declare them;
it writes only under the ``work`` directory it is given (a scratch directory the step removes), and returns
the directory of the trained model there, which the step moves into place."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from stagekit.runner import StepContext

__all__ = ["TrlTrainer", "Trainer"]

#: Options every trl trainer gets (device options from :func:`_device`: CPU settings only without a GPU).
_COMMON: dict[str, Any] = {"report_to": "none", "logging_steps": 1, "save_strategy": "no"}


class Trainer(Protocol):
    """What the SFT and RL steps need of a trainer."""

    def sft(self, ctx: StepContext, *, model: str, examples: pa.Table, work: Path) -> Path:
        """Fine-tune ``model`` on ``examples`` (trl's conversational ``prompt``/``completion`` rows) and
        return the directory (under ``work``) where the trained model and its tokenizer are saved."""
        ...

    def grpo(self, ctx: StepContext, *, model: str, problems: pa.Table, work: Path) -> tuple[Path, pa.Table]:
        """GRPO from ``model`` on ``problems`` (``stagekit.to_grpo`` rows); return the saved model's directory
        (under ``work``) and every completion of training in the long rollout format (``step``,
        ``problem_id``, ``prompt``, ``completion``, ``answer``, ``correct``, ``reward_<name>``)."""
        ...


def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


@contextlib.contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """The trainers' log lines (transformers prints each logged dict with ``tqdm.write``, to stdout) go to
    stderr with the progress bars: stdout is the command's summary (``stagekit run > summary.txt``)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _device() -> dict[str, Any]:
    import torch

    return {} if torch.cuda.is_available() else {"use_cpu": True, "bf16": False}


class TrlTrainer:
    """trl's trainers on the CPU or a GPU: ``SFTTrainer``, and ``GRPOTrainer`` with the accuracy and format
    rewards (weights 1.0 and 0.1), every completion recorded."""

    def sft(self, ctx: StepContext, *, model: str, examples: pa.Table, work: Path) -> Path:
        from trl import SFTConfig, SFTTrainer

        from stagekit.integrations.trl import to_dataset

        c = ctx.cfg
        tok = _tokenizer(model)
        args = SFTConfig(output_dir=str(work / "trainer"), max_steps=c.sft_steps,
                         per_device_train_batch_size=c.sft_batch_size, learning_rate=c.sft_learning_rate,
                         max_length=c.sft_max_length, seed=c.seed, disable_tqdm=not c.progress, **_device(), **_COMMON)
        trainer = SFTTrainer(model=model, args=args, train_dataset=to_dataset(examples), processing_class=tok)
        with _logs_to_stderr():
            trainer.train()
        ctx.note(losses=[round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h])
        out = work / "model"
        trainer.save_model(str(out))
        tok.save_pretrained(str(out))
        return out

    def grpo(self, ctx: StepContext, *, model: str, problems: pa.Table, work: Path) -> tuple[Path, pa.Table]:
        from trl import GRPOConfig, GRPOTrainer

        from stagekit.integrations.trl import RolloutRecorder, accuracy_reward, format_reward, to_dataset

        c = ctx.cfg
        tok = _tokenizer(model)
        prompts = min(c.grpo_prompts, problems.num_rows)
        rec = RolloutRecorder(work / "recorded", chunk_rows=64)
        args = GRPOConfig(output_dir=str(work / "trainer"), max_steps=c.grpo_steps,
                          per_device_train_batch_size=prompts * c.num_generations,
                          generation_batch_size=prompts * c.num_generations, num_generations=c.num_generations,
                          max_completion_length=c.grpo_max_completion_length, beta=0.0, temperature=c.temperature,
                          learning_rate=c.grpo_learning_rate, seed=c.seed, reward_weights=[1.0, 0.1],
                          disable_tqdm=not c.progress, **_device(), **_COMMON)
        rewards: Any = rec.wrap([accuracy_reward, format_reward])
        trainer = GRPOTrainer(model=model, reward_funcs=rewards, args=args,
                              train_dataset=to_dataset(problems), processing_class=tok, callbacks=[rec.callback()])
        with _logs_to_stderr():
            trainer.train()
        rec.flush()
        ctx.note(rewards=[round(h["reward"], 4) for h in trainer.state.log_history if "reward" in h])
        out = work / "model"
        trainer.save_model(str(out))
        tok.save_pretrained(str(out))
        return out, RolloutRecorder.read(work / "recorded")
