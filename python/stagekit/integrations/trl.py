"""trl integration: reward functions for GRPOTrainer, a rollout recorder, and dataset builders.

Reward functions follow trl 1.x's calling convention — ``f(prompts=, completions=, completion_ids=,
**dataset_columns, trainer_state=, ...)`` returning one float per completion — and make one batch call
into the Rust verifier per invocation (thread-safe, no signals). Importing this module imports neither
torch nor trl.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from stagekit import verifier as _verify

__all__ = [
    "AccuracyReward",
    "FormatReward",
    "RolloutRecorder",
    "accuracy_reward",
    "combine",
    "completion_text",
    "format_reward",
    "grpo_dataset",
    "sft_dataset",
]

RewardFunc = Callable[..., list[float | None]]


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the contents of a conversational completion's messages."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return "".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in completion)


def prompt_text(prompt: Any) -> str:
    """The text of a prompt: a string, or the last user message of a conversation."""
    if prompt is None or isinstance(prompt, str):
        return prompt or ""
    users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    return str((users or list(prompt))[-1].get("content", ""))


class AccuracyReward:
    """Binary correctness reward: 1.0 where the completion's final answer is equivalent to the gold in the
    dataset column ``answer`` (a bare answer or a reference solution), else 0.0. ``boxed_only=True`` also
    requires the answer in a ``\\boxed{}`` (so a completion cut off at the length limit cannot score by
    its last number).

    >>> accuracy_reward(prompts=["?", "?"], completions=["so \\\\boxed{4}", "\\\\boxed{5}"], answer=["4", "4"])
    [1.0, 0.0]
    """

    def __init__(
        self,
        answer: str = "answer",
        *,
        boxed_only: bool = False,
        threads: int | None = None,
        rel_tol: float = _verify.DEFAULT_REL_TOL,
    ):
        self.answer, self.boxed_only, self.threads, self.rel_tol = answer, boxed_only, threads, rel_tol
        self.__name__ = "accuracy" if answer == "answer" else f"accuracy_{answer}"

    def __call__(self, prompts: Any = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float]:
        golds = kwargs.get(self.answer)
        if golds is None:
            cols = sorted(k for k in kwargs if k not in {"trainer_state", "log_extra", "log_metric", "environments"})
            raise KeyError(
                f"{self.__name__}: the dataset has no {self.answer!r} column for the gold answers "
                f"(columns passed by the trainer: {', '.join(cols) or 'none'})"
            )
        texts = [completion_text(c) for c in completions]
        golds = [None if g is None else str(g) for g in golds]
        ok = _verify.verify_batch(texts, golds, threads=self.threads, rel_tol=self.rel_tol).to_pylist()
        if self.boxed_only:
            # RL: only an answer committed in a box counts (a truncated text's last number does not).
            ok = [x and "\\boxed" in t for x, t in zip(ok, texts, strict=True)]
        return [1.0 if x else 0.0 for x in ok]


class FormatReward:
    """Format reward: 1.0 where the completion has the required structure, else 0.0.

    ``boxed``: a final answer in a closed ``\\boxed{}``. ``think``: exactly one ``<think>...</think>`` block
    followed by a non-empty answer (the opening tag may be in the prompt, as chat templates put it).

    >>> format_reward(completions=["so \\\\boxed{4}", "so 4"])
    [1.0, 0.0]
    >>> FormatReward(think=True)(completions=["<think>2+2</think> \\\\boxed{4}", "\\\\boxed{4}"])
    [1.0, 0.0]
    """

    def __init__(self, *, boxed: bool = True, think: bool = False):
        if not (boxed or think):
            raise ValueError("FormatReward needs boxed=True or think=True")
        self.boxed, self.think = boxed, think
        self.__name__ = "format_" + "_".join(x for x, on in (("boxed", boxed), ("think", think)) if on)

    def _ok(self, text: str) -> bool:
        if self.think:
            if text.count("</think>") != 1 or text.count("<think>") > 1:
                return False
            if not text.split("</think>", 1)[1].strip():
                return False
        if self.boxed:
            tail = text.split("</think>", 1)[1] if "</think>" in text else text
            if "\\boxed" not in tail or _verify.extract_answer(tail) is None:
                return False
        return True

    def __call__(self, prompts: Any = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float]:
        return [1.0 if self._ok(completion_text(c)) else 0.0 for c in completions]


accuracy_reward = AccuracyReward()
format_reward = FormatReward()


def combine(*weighted: tuple[RewardFunc, float], name: str = "combined") -> RewardFunc:
    """One reward function that is the weighted sum of others (``None`` from any part gives ``None``).

    >>> r = combine((accuracy_reward, 1.0), (format_reward, 0.1))
    >>> r(completions=["\\\\boxed{4}", "5"], answer=["4", "4"])
    [1.1, 0.0]
    """
    if not weighted:
        raise ValueError("combine needs at least one (reward_function, weight) pair")

    def combined(**kwargs: Any) -> list[float | None]:
        parts = [(f(**kwargs), w) for f, w in weighted]
        n = len(parts[0][0])
        out: list[float | None] = []
        for i in range(n):
            vals = [(p[i], w) for p, w in parts]
            out.append(None if any(v is None for v, _ in vals) else sum(v * w for v, w in vals))
        return out

    combined.__name__ = name
    return combined


class RolloutRecorder:
    """Record every GRPO group — step, problem id, prompt, each completion, the binary ``correct`` and each
    reward function's value — as Parquet in the long rollout format :func:`stagekit.zero_reward_groups`
    reads (``by=("problem_id", "step")``). ``problem_id`` is stored as a string (cast before joining with
    an integer-keyed table); evaluation calls of the reward functions are recorded like training ones.

    Use it by wrapping the reward functions you give the trainer, and register its callback::

        rec = sk.trl.RolloutRecorder("runs/rl/rollouts")
        trainer = GRPOTrainer(..., reward_funcs=rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward]),
                              callbacks=[rec.callback()])

    Rows are written in chunks of ``chunk_rows``, each to its own file ``part-<rank>-<seq>.parquet``
    through a temporary file and a rename: a killed run leaves no corrupt file and loses at most the chunk
    in flight. ``correct`` is computed by the verifier from the ``answer`` column, whatever the rewards
    are. Without a ``problem_id`` column, the problem id is a hash of the prompt text.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        problem_id: str = "problem_id",
        answer: str = "answer",
        chunk_rows: int = 4096,
        threads: int | None = None,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.problem_id, self.answer, self.chunk_rows, self.threads = problem_id, answer, chunk_rows, threads
        self.rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
        self._lock = threading.Lock()
        self._batch: dict[str, Any] | None = None
        self._rows: list[dict[str, Any]] = []
        # Continue after the highest existing part (a gap left by a deleted file must not be reused).
        seqs = [int(p.stem.rsplit("-", 1)[1]) for p in self.path.glob(f"part-{self.rank:03d}-*.parquet")]
        self._seq = max(seqs, default=-1) + 1
        self._names: list[str] = []
        self.files: list[Path] = []

    # -- wrapping ---------------------------------------------------------------------------------------

    def wrap(self, reward_funcs: Sequence[RewardFunc]) -> list[RewardFunc]:
        """The same reward functions, recording what they return."""
        wrapped = []
        for f in reward_funcs:
            name = getattr(f, "__name__", type(f).__name__)
            if name in self._names:
                raise ValueError(f"RolloutRecorder: two reward functions are named {name!r}")
            self._names.append(name)
            wrapped.append(self._wrap_one(f, name))
        return wrapped

    def _wrap_one(self, f: RewardFunc, name: str) -> RewardFunc:
        def recorded(prompts: Any = None, completions: Any = None, completion_ids: Any = None, **kwargs: Any) -> list:
            values = f(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)
            self._record(name, prompts, completions, kwargs, values)
            return values

        recorded.__name__ = name
        return recorded

    def _record(self, name: str, prompts: Any, completions: Any, kwargs: dict[str, Any], values: list) -> None:
        state = kwargs.get("trainer_state")
        step = int(getattr(state, "global_step", -1)) if state is not None else -1
        with self._lock:
            b = self._batch
            # trl calls every reward function on the same `completions` list of one batch.
            if b is None or b["completions"] is not completions or b["step"] != step or name in b["rewards"]:
                self._close_batch()
                self._batch = b = {
                    "step": step,
                    "prompts": prompts,
                    "completions": completions,
                    "ids": kwargs.get(self.problem_id),
                    "golds": kwargs.get(self.answer),
                    "rewards": {},
                }
            b["rewards"][name] = list(values)

    def _close_batch(self) -> None:
        b, self._batch = self._batch, None
        if b is None:
            return
        texts = [completion_text(c) for c in b["completions"]]
        prompts = [prompt_text(p) for p in (b["prompts"] or [None] * len(texts))]
        ids = b["ids"] or [hashlib.sha1(p.encode()).hexdigest()[:16] for p in prompts]
        golds = b["golds"]
        correct = (
            _verify.verify_batch(texts, [None if g is None else str(g) for g in golds], threads=self.threads).to_pylist()
            if golds is not None
            else [None] * len(texts)
        )
        for i, text in enumerate(texts):
            row = {
                "step": b["step"],
                "problem_id": None if ids[i] is None else str(ids[i]),
                "prompt": prompts[i],
                "completion": text,
                "answer": None if golds is None or golds[i] is None else str(golds[i]),
                "correct": correct[i],
            }
            for name in self._names:
                vals = b["rewards"].get(name)
                row[f"reward_{name}"] = None if vals is None or vals[i] is None else float(vals[i])
            self._rows.append(row)
        if len(self._rows) >= self.chunk_rows:
            self._write()

    def _schema(self) -> pa.Schema:
        fields = [
            ("step", pa.int64()),
            ("problem_id", pa.string()),
            ("prompt", pa.string()),
            ("completion", pa.string()),
            ("answer", pa.string()),
            ("correct", pa.bool_()),
        ]
        return pa.schema(fields + [(f"reward_{n}", pa.float64()) for n in self._names])

    def _write(self) -> None:
        import pyarrow.parquet as pq

        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self._schema())
        final = self.path / f"part-{self.rank:03d}-{self._seq:06d}.parquet"
        tmp = self.path / f".{final.name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        self._seq += 1
        self._rows = []
        self.files.append(final)

    # -- lifecycle --------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything recorded so far (the current batch included)."""
        with self._lock:
            self._close_batch()
            self._write()

    close = flush

    def callback(self) -> Any:
        """A ``transformers.TrainerCallback`` that flushes at each save and at the end of training."""
        from transformers import TrainerCallback

        recorder = self

        class _RecorderCallback(TrainerCallback):
            def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                recorder.flush()

            def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                recorder.flush()

        return _RecorderCallback()

    @staticmethod
    def read(path: str | os.PathLike[str]) -> pa.Table:
        """All recorded rows under ``path`` (hidden temporary files are ignored)."""
        import pyarrow.dataset as ds

        files = sorted(str(p) for p in Path(path).glob("part-*.parquet"))
        if not files:
            raise FileNotFoundError(f"{path}: no recorded rollouts (part-*.parquet)")
        return ds.dataset(files, format="parquet").to_table()


def _dataset(table: pa.Table) -> Any:
    try:
        import datasets
        from datasets.table import InMemoryTable
    except ImportError as e:
        raise ImportError("dataset builders need the `trl` extra: pip install 'stagekit[trl]'") from e
    return datasets.Dataset(InMemoryTable(table))


def sft_dataset(table: Any, **to_sft_options: Any) -> Any:
    """A ``datasets.Dataset`` for ``SFTTrainer`` from a stage table (see :func:`stagekit.to_sft`)."""
    from stagekit.transforms.formats import to_sft

    return _dataset(to_sft(table, **to_sft_options))


def grpo_dataset(table: Any, **to_grpo_options: Any) -> Any:
    """A ``datasets.Dataset`` for ``GRPOTrainer`` from a stage table (see :func:`stagekit.to_grpo`): the
    conversational prompt plus every other column, which reach the reward functions as keyword arguments."""
    from stagekit.transforms.formats import to_grpo

    return _dataset(to_grpo(table, **to_grpo_options))
