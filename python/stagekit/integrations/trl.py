"""trl integration: reward functions for GRPOTrainer, a rollout recorder, and dataset builders.

Reward functions follow trl 1.x's calling convention — ``f(*, prompts=, completions=, completion_ids=,
**dataset_columns, trainer_state=, log_extra=, log_metric=, ...)``, keyword arguments only — return one
float per completion, or ``None`` where the row cannot be scored (no gold), and make one batch call into
the Rust verifier per invocation (thread-safe, no signals). Importing this module imports neither torch nor
trl.

**Reasoning traces** (``<think> ... </think>``): only the text after the last ``</think>`` holds the
answer, so ``<think>maybe \\boxed{4}</think> The answer is 5`` answers 5 (trl's own ``accuracy_reward``
reads the first box, 4: a thought is not an answer). A ``<think>`` left open after the last
``</think>`` (a reasoning trace cut off at the length limit) answers nothing: ``no_answer``, reward 0.
See :func:`answer_text`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from stagekit import verifier as _verify

__all__ = [
    "AccuracyReward",
    "FormatReward",
    "RolloutRecorder",
    "accuracy_reward",
    "answer_text",
    "combine",
    "completion_text",
    "format_reward",
    "group_advantages",
    "grpo_dataset",
    "sft_dataset",
    "to_dataset",
]

RewardFunc = Callable[..., list[float | None]]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

# The keyword arguments trl adds to the dataset's columns.
_TRAINER_KWARGS = frozenset({"trainer_state", "log_extra", "log_metric", "environments"})


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


def answer_text(text: str) -> str | None:
    """The part of a completion that may hold its answer: the text after the last ``</think>`` (all of it
    without one), or ``None`` when a ``<think>`` is still open there (a truncated reasoning trace, which
    commits to no answer). The verifier core applies the same rule to every completion it checks
    (:func:`stagekit.verifier.answer_region`), so the reward functions pass completions to it whole.

    >>> answer_text("<think>maybe 4</think> The answer is 5")
    ' The answer is 5'
    >>> answer_text("<think>maybe \\\\boxed{4}") is None
    True
    """
    return _verify.answer_region(text)


def _golds(values: Sequence[Any], n: int, who: str, column: str) -> tuple[list[str | None], list[bool]]:
    """Gold answers as text, and whether each row has one (null, blank or an empty ``####`` has none)."""
    if len(values) != n:
        raise ValueError(f"{who}: {n} completions but {len(values)} values in column {column!r}")
    golds = [None if g is None else str(g) for g in values]
    return golds, [g is not None and _verify.extract_gold(g).strip() != "" for g in golds]


def _gold_column(kwargs: dict[str, Any], name: str) -> str:
    """The dataset column holding the gold: ``name``; at its default ``answer`` and absent, trl's
    ``solution`` (the precedence every stagekit reader of the gold follows)."""
    from stagekit.transforms import GOLD_FALLBACK, resolve_column

    return resolve_column([k for k, v in kwargs.items() if v is not None], name, "answer", GOLD_FALLBACK)


def _missing(who: str, column: str, kwargs: dict[str, Any]) -> KeyError:
    cols = sorted(k for k in kwargs if k not in _TRAINER_KWARGS)
    return KeyError(
        f"{who}: the dataset has no {column!r} column for the gold answers "
        f"(columns passed by the trainer: {', '.join(cols) or 'none'})"
    )


class AccuracyReward:
    """Binary correctness reward: 1.0 where the completion's final answer is equivalent to the gold in the
    dataset column ``answer`` (a bare answer or a reference solution; without an ``answer`` column, trl's
    ``solution``, as everywhere in stagekit), 0.0 where it is not, and ``None``
    where the row has no gold (null or blank), so trl skips it rather than penalising it (mixed-task data).
    A completion cut off at ``max_completion_length`` mid-sentence never scores by a number picked out of
    its prose (the verifier takes an unmarked answer only from a finished text). ``require_marker=True``
    rewards only answers given with a marker (a box, "the answer is", ``Answer:``, ``####``);
    ``boxed_only=True`` only answers in a ``\\boxed{}``. ``rel_tol`` is the tolerance of decimal literals.
    Reasoning traces follow :func:`answer_text`.

    Called by trl (keyword arguments only), it adds the columns ``<name>_predicted`` (the extracted answer)
    and ``<name>_status`` (the verifier's verdict: correct, incorrect, no_answer, unparseable; null where
    there is no gold) to trl's completions table through the ``log_extra`` hook. The reward's name
    (``__name__``, which trl and :class:`RolloutRecorder` use) is ``accuracy`` or ``accuracy_<column>``.

    >>> AccuracyReward("solution")(completions=["so \\\\boxed{4}", "\\\\boxed{5}", "7"], solution=["#### 4", "4", None])
    [1.0, 0.0, None]
    """

    def __init__(
        self,
        answer: str = "answer",
        *,
        boxed_only: bool = False,
        require_marker: bool = False,
        threads: int | None = None,
        rel_tol: float = _verify.DEFAULT_REL_TOL,
    ):
        self.answer, self.boxed_only, self.threads, self.rel_tol = answer, boxed_only, threads, rel_tol
        self.require_marker = require_marker
        self.__name__ = "accuracy" if answer == "answer" else f"accuracy_{answer}"

    def __call__(
        self, *, prompts: Any = None, completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        column = _gold_column(kwargs, self.answer)
        if kwargs.get(column) is None:
            raise _missing(self.__name__, self.answer, kwargs)
        texts = [completion_text(c) for c in completions]
        golds, has_gold = _golds(kwargs[column], len(texts), self.__name__, column)
        # The core reads only the answer part of each (after the last `</think>`; none while a `<think>` is
        # open): see answer_text.
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            verdicts = _verify.check_batch(
                texts, golds, threads=self.threads, rel_tol=self.rel_tol, require_marker=self.require_marker
            )
            ok = verdicts["correct"].to_pylist()
            status = [s if g else None for s, g in zip(verdicts["status"].to_pylist(), has_gold, strict=True)]
            predicted = verdicts["predicted"].to_pylist()
            # Rows without a gold are not judged, but their answer is still shown.
            predicted = [
                p if g else _verify.extract_answer(r, require_marker=self.require_marker)
                for p, g, r in zip(predicted, has_gold, texts, strict=True)
            ]
            log_extra(f"{self.__name__}_predicted", predicted)
            log_extra(f"{self.__name__}_status", status)
        else:
            ok = _verify.verify_batch(
                texts, golds, threads=self.threads, rel_tol=self.rel_tol, require_marker=self.require_marker
            ).to_pylist()
        if self.boxed_only:
            # RL: only an answer committed in a box counts (a truncated text's last number does not).
            ok = [x and "\\boxed" in (answer_text(t) or "") for x, t in zip(ok, texts, strict=True)]
        return [(1.0 if x else 0.0) if g else None for x, g in zip(ok, has_gold, strict=True)]


class FormatReward:
    """Format reward: 1.0 where the completion has the required structure, else 0.0 (never ``None``).

    ``boxed``: a final answer in a closed ``\\boxed{}`` in the answer part (after the last ``</think>``; an
    unterminated ``<think>`` has none). ``think``: exactly one ``<think>...</think>`` block followed by a
    non-empty answer (the opening tag may be in the prompt, as chat templates put it).

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
            if text.count(THINK_CLOSE) != 1 or text.count(THINK_OPEN) > 1:
                return False
            if THINK_OPEN in text and text.index(THINK_OPEN) > text.index(THINK_CLOSE):
                return False
            if not text.split(THINK_CLOSE, 1)[1].strip():
                return False
        if self.boxed:
            tail = answer_text(text)
            if tail is None or "\\boxed" not in tail or _verify.extract_answer(tail) is None:
                return False
        return True

    def __call__(
        self, *, prompts: Any = None, completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        return [1.0 if self._ok(completion_text(c)) else 0.0 for c in completions]


_ACCURACY = AccuracyReward()
_FORMAT = FormatReward()


def accuracy_reward(
    *, prompts: Any = None, completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    r"""Binary correctness reward for ``GRPOTrainer``: 1.0 where the completion's final answer is equivalent
    to the gold in the dataset column ``answer`` (a bare answer or a reference solution), 0.0 where it is
    not, ``None`` where the row has no gold (trl then skips it). Keyword arguments only, as trl passes them.

    Only the text after the last ``</think>`` counts, and an unterminated ``<think>`` answers nothing. Inside
    a trainer it adds ``accuracy_predicted`` and ``accuracy_status`` to trl's completions table
    (``log_extra``). Its name for trl and :class:`RolloutRecorder` is ``accuracy`` (``rewards/accuracy/mean``,
    column ``reward_accuracy``). Another gold column, or a box required: :class:`AccuracyReward`.

    >>> accuracy_reward(completions=["so \\boxed{4}", "\\boxed{5}", "<think>\\boxed{4}"], answer=["4", "4", "4"])
    [1.0, 0.0, 0.0]
    """
    return _ACCURACY(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)


def format_reward(
    *, prompts: Any = None, completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    r"""Format reward for ``GRPOTrainer``: 1.0 where the completion's answer part (after the last
    ``</think>``) holds a closed ``\boxed{}`` answer, else 0.0. Keyword arguments only, as trl passes them.
    Its name for trl and :class:`RolloutRecorder` is ``format_boxed`` (column ``reward_format_boxed``); a
    ``<think>`` block required too: :class:`FormatReward`.

    >>> format_reward(completions=["so \\boxed{4}", "so 4", "<think>\\boxed{4}"])
    [1.0, 0.0, 0.0]
    """
    return _FORMAT(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)


accuracy_reward.__name__ = _ACCURACY.__name__
format_reward.__name__ = _FORMAT.__name__


def _value(v: Any) -> float | None:
    """A reward as trl reads it: ``None`` and NaN both mean "not scored"."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def combine(*weighted: tuple[RewardFunc, float], name: str = "combined") -> RewardFunc:
    """One reward function that is the weighted sum of others, with ``None`` handled as trl handles it: a
    part that returns ``None`` (or NaN) for a row is left out of that row's sum, and the row is ``None``
    only when every part is.

    >>> r = combine((accuracy_reward, 1.0), (format_reward, 0.1))
    >>> r(completions=["\\\\boxed{4}", "5", "\\\\boxed{5}"], answer=["4", "4", None])
    [1.1, 0.0, 0.1]
    """
    if not weighted:
        raise ValueError("combine needs at least one (reward_function, weight) pair")

    def combined(
        *, prompts: Any = None, completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        parts = [(f(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs), w) for f, w in weighted]
        for (values, _), (f, _) in zip(parts, weighted, strict=True):
            if len(values) != len(completions):
                raise ValueError(f"{name}: {getattr(f, '__name__', f)!s} returned {len(values)} rewards for "
                                 f"{len(completions)} completions")
        out: list[float | None] = []
        for i in range(len(completions)):
            vals = [(v, w) for p, w in parts if (v := _value(p[i])) is not None]
            out.append(sum(v * w for v, w in vals) if vals else None)
        return out

    combined.__name__ = name
    return combined


# ------------------------------------------------------------------------------------------- the recorder


def _write_parquet_atomically(table: pa.Table, final: Path) -> None:
    """Write a new part ``final`` with :func:`stagekit.io.atomic_write` (a uniquely named temporary file in
    the same directory, fsync, rename; removed on any error; the mode follows the umask). A recorder never
    overwrites a part."""
    import pyarrow.parquet as pq

    from stagekit.io import atomic_write

    if final.exists():
        raise FileExistsError(f"{final} exists; a recorder never overwrites a part")
    atomic_write(final, lambda f: pq.write_table(table, f))


class _Batch:
    """The rows of one reward-function call by trl (one generation batch): every wrapped reward function
    is called on it once, in turn."""

    __slots__ = ("key", "mode", "step", "prompts", "texts", "ids", "golds", "keep", "rewards")

    def __init__(self, key: tuple[Any, ...], mode: str | None, step: int, prompts: list[str], texts: list[str],
                 ids: Sequence[Any] | None, golds: Sequence[Any] | None, keep: dict[str, list[Any]]) -> None:
        self.key, self.mode, self.step = key, mode, step
        self.prompts, self.texts, self.ids, self.golds, self.keep = prompts, texts, ids, golds, keep
        self.rewards: dict[str, list[float | None]] = {}


def _nanmean(xs: list[float]) -> float:
    vals = [x for x in xs if not math.isnan(x)]
    return sum(vals) / len(vals) if vals else math.nan


def _nanstd(xs: list[float]) -> float:
    """trl's ``nanstd``: the unbiased standard deviation over non-NaN values (NaN for fewer than two)."""
    vals = [x for x in xs if not math.isnan(x)]
    if len(vals) < 2:
        return math.nan
    m = sum(vals) / len(vals)
    return math.sqrt(sum((x - m) ** 2 for x in vals) / (len(vals) - 1))


def group_advantages(
    rewards_per_func: Sequence[Sequence[float | None]],
    weights: Sequence[float],
    num_generations: int,
    *,
    scale_rewards: str | bool = "group",
    aggregation: str = "sum_then_normalize",
) -> tuple[list[float | None], list[float]]:
    """The total weighted reward and the advantage of each completion, computed as trl 1.x's GRPOTrainer
    computes them (``None``/NaN rewards left out; a row every function skipped has no reward and advantage
    0). ``rewards_per_func[f][i]`` is function ``f``'s reward for row ``i``; rows come in groups of
    ``num_generations`` consecutive completions.

    >>> total, adv = group_advantages([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, None]], [1.0, 0.1], 2)
    >>> total, [round(a, 3) for a in adv]
    ([1.1, 0.1, 0.0, 0.0], [0.707, -0.707, 0.0, 0.0])
    """
    funcs = len(rewards_per_func)
    n = len(rewards_per_func[0]) if funcs else 0
    g = num_generations
    if funcs != len(weights) or g < 1 or n % g:
        raise ValueError(f"group_advantages: {funcs} reward functions, {len(weights)} weights, {n} rows in groups of {g}")
    r = [[math.nan if (v := _value(x)) is None else v for x in col] for col in rewards_per_func]
    unscorable = [all(math.isnan(r[f][i]) for f in range(funcs)) for i in range(n)]
    total = [math.nan if unscorable[i] else sum(weights[f] * r[f][i] for f in range(funcs) if not math.isnan(r[f][i]))
             for i in range(n)]
    scale = {True: "group", False: "none"}.get(scale_rewards, scale_rewards) if isinstance(scale_rewards, bool) else scale_rewards
    adv: list[float]
    if aggregation == "sum_then_normalize":
        adv = [math.nan] * n
        batch_std = _nanstd(total) if n > 1 else 0.0
        for start in range(0, n, g):
            grp = total[start:start + g]
            mean = _nanmean(grp)
            std = (_nanstd(grp) if g > 1 else 0.0) if scale in ("group", "none") else batch_std
            for i in range(start, start + g):
                a = total[i] - mean
                adv[i] = a / (std + 1e-4) if scale != "none" else a
    elif aggregation == "normalize_then_sum":
        norm = [[math.nan] * n for _ in range(funcs)]
        for f in range(funcs):
            for start in range(0, n, g):
                grp = r[f][start:start + g]
                mean = _nanmean(grp)
                std = _nanstd(grp) if g > 1 else 0.0
                for i in range(start, start + g):
                    norm[f][i] = (r[f][i] - mean) / (std + 1e-4)
        summed = [math.nan if unscorable[i] else
                  sum(weights[f] * norm[f][i] for f in range(funcs) if not math.isnan(norm[f][i])) for i in range(n)]
        std = _nanstd(summed) if n > 1 else 0.0
        mean = _nanmean(summed)
        adv = [(x - mean) / (std + 1e-4) for x in summed]
    else:
        raise ValueError(f"group_advantages: unknown aggregation {aggregation!r}")
    return ([None if math.isnan(x) else x for x in total], [0.0 if math.isnan(a) else a for a in adv])


class RolloutRecorder:
    """Record every GRPO completion — step, mode, problem id, prompt, completion, the binary ``correct``,
    each reward function's value, the total weighted reward and the group advantage — as Parquet in the long
    rollout format :func:`stagekit.zero_reward_groups` reads (``by=("problem_id", "step")``).

    Use it by wrapping *all* the reward functions you give the trainer (in that order), and register its
    callback::

        rec = sk.trl.RolloutRecorder("runs/rl/rollouts", keep=["solution"])
        trainer = GRPOTrainer(..., reward_funcs=rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward]),
                              callbacks=[rec.callback()])

    Columns: ``step`` (``trainer_state.global_step``; -1 outside a trainer), ``mode`` (``train`` or
    ``eval``, as trl decides it from the model's training flag; null without the callback),
    ``problem_id`` (the dataset's values, of their own type; a hash of the prompt text without such a
    column), ``prompt``, ``completion``, ``answer``, ``correct`` (the verifier's binary verdict on the
    ``answer`` column whatever the rewards are; null where the row has no gold), ``reward_<name>`` per
    reward function, ``reward`` (the weighted sum, as trl computes it, with the trainer's
    ``reward_weights``) and ``advantage`` (trl's group-normalised advantage, from the trainer's
    ``num_generations``, ``scale_rewards`` and ``multi_objective_aggregation``), then the ``keep`` columns.
    ``reward`` and ``advantage`` are null where they cannot be known: a trainer with reward functions the
    recorder does not wrap, or several processes (trl normalises over all processes' groups).
    ``reward_weights=`` and ``num_generations=`` set them without a trainer.

    A batch is the rows of one call of the reward functions by trl, keyed by mode, step and the batch's
    contents, and matched in call order (the first open batch still missing that function's value): so
    calls from several threads, or trl's async reward functions, are recorded exactly once each, with every
    reward. Rows are written in chunks of ``chunk_rows``, each to its own file
    ``part-<rank>-<writer>-<seq>.parquet`` (``writer`` unique to this recorder: time, pid and a random id)
    through a temporary file, fsync and a rename: no part is ever overwritten, two recorders on one path
    keep all their rows, and a killed run leaves no corrupt file and loses at most the chunk in flight.
    """

    _MAX_OPEN = 256  # open (incomplete) batches kept before the oldest is written with the rewards it has

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        problem_id: str = "problem_id",
        answer: str = "answer",
        keep: Sequence[str] = (),
        chunk_rows: int = 4096,
        threads: int | None = None,
        reward_weights: Sequence[float] | None = None,
        num_generations: int | None = None,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        if num_generations is not None and num_generations < 1:
            raise ValueError(f"num_generations must be >= 1, got {num_generations}")
        keep = [keep] if isinstance(keep, str) else list(keep)
        fixed = {"step", "mode", "problem_id", "prompt", "completion", "answer", "correct", "reward", "advantage"}
        clash = [k for k in keep if k in fixed or k.startswith("reward_")]
        if clash:
            raise ValueError(f"RolloutRecorder: keep={clash} would overwrite the recorder's own columns")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.problem_id, self.answer, self.keep = problem_id, answer, keep
        self.chunk_rows, self.threads = chunk_rows, threads
        self.reward_weights = None if reward_weights is None else [float(w) for w in reward_weights]
        self.num_generations = num_generations
        self.rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
        self.writer = f"{time.time_ns() // 1000:016d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.RLock()
        self._open: list[_Batch] = []
        self._rows: list[dict[str, Any]] = []
        self._seq = 0
        self._names: list[str] = []
        self._model: Any = None  # the trainer's model (from the callback): its training flag is trl's mode
        self._trainer: dict[str, Any] = {}  # the trainer's GRPO settings (from the callback)
        self._warned = False
        self.files: list[Path] = []

    # -- wrapping ---------------------------------------------------------------------------------------

    def wrap(self, reward_funcs: Sequence[RewardFunc]) -> list[RewardFunc]:
        """The same reward functions (sync or async), recording what they return."""
        wrapped = []
        for f in reward_funcs:
            name = getattr(f, "__name__", type(f).__name__)
            if name in self._names:
                raise ValueError(f"RolloutRecorder: two reward functions are named {name!r}")
            self._names.append(name)
            wrapped.append(self._wrap_one(f, name))
        return wrapped

    def _wrap_one(self, f: RewardFunc, name: str) -> RewardFunc:
        call = getattr(f, "__call__", None)
        if inspect.iscoroutinefunction(f) or inspect.iscoroutinefunction(call):
            af = cast(Callable[..., Awaitable[list[Any]]], f)

            async def recorded_async(*, prompts: Any = None, completions: Any, completion_ids: Any = None, **kwargs: Any) -> list:
                values = await af(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)
                self._record(name, prompts, completions, kwargs, values)
                return values

            recorded_async.__name__ = name
            return cast(RewardFunc, recorded_async)  # trl awaits it (it checks for a coroutine function)

        @functools.wraps(f, assigned=("__doc__",))
        def recorded(*, prompts: Any = None, completions: Any, completion_ids: Any = None, **kwargs: Any) -> list:
            values = f(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)
            self._record(name, prompts, completions, kwargs, values)
            return values

        recorded.__name__ = name
        return recorded

    def _mode(self) -> str | None:
        model = self._model
        if model is None:
            return None
        return "train" if getattr(model, "training", True) else "eval"

    def _record(self, name: str, prompts: Any, completions: Any, kwargs: dict[str, Any], values: Sequence[Any]) -> None:
        texts = [completion_text(c) for c in completions]
        n = len(texts)
        if len(values) != n:
            raise ValueError(f"RolloutRecorder: {name} returned {len(values)} rewards for {n} completions")
        state = kwargs.get("trainer_state")
        step = int(getattr(state, "global_step", -1)) if state is not None else -1
        mode = self._mode()
        ptexts = [prompt_text(p) for p in prompts] if prompts is not None else [""] * n
        ids, golds = kwargs.get(self.problem_id), kwargs.get(_gold_column(kwargs, self.answer))
        keep: dict[str, list[Any]] = {}
        for col in self.keep:
            if col not in kwargs:
                cols = sorted(k for k in kwargs if k not in _TRAINER_KWARGS)
                raise KeyError(f"RolloutRecorder: keep column {col!r} is not in the dataset "
                               f"(columns passed by the trainer: {', '.join(cols) or 'none'})")
            keep[col] = list(kwargs[col])
        for col, vals in (("prompts", prompts), (self.problem_id, ids), (self.answer, golds), *keep.items()):
            if vals is not None and len(vals) != n:
                raise ValueError(f"RolloutRecorder: {n} completions but {len(vals)} values in {col!r}")
        # The batch's contents are part of its key (compared, not hashed: trl hands every reward function
        # the same string objects, so the comparison is mostly identity checks).
        key = (mode, step, tuple(texts), tuple(ptexts), None if ids is None else tuple(ids),
               None if golds is None else tuple(golds), tuple(tuple(v) for v in keep.values()))
        with self._lock:
            for b in self._open:
                if b.key == key and name not in b.rewards:
                    break
            else:
                b = _Batch(key, mode, step, ptexts, texts, None if ids is None else list(ids),
                           None if golds is None else list(golds), keep)
                self._open.append(b)
            b.rewards[name] = [_value(v) for v in values]
            if all(x in b.rewards for x in self._names):
                self._open.remove(b)
                self._close(b)
            elif len(self._open) > self._MAX_OPEN:
                self._close(self._open.pop(0))

    def _settings(self, mode: str | None) -> tuple[list[float] | None, int | None, Any, str]:
        """Weights and group size for the total reward and the advantage (None where unknown)."""
        t = self._trainer
        weights = self.reward_weights
        if weights is None and t:
            weights = [float(w) for w in t["reward_weights"]] if t.get("reward_weights") is not None else [1.0] * len(self._names)
        if weights is None:
            weights = [1.0] * len(self._names)
        g = self.num_generations
        if g is None and t:
            g = t.get("num_generations_eval") if mode == "eval" and t.get("num_generations_eval") else t.get("num_generations")
        usable = len(weights) == len(self._names) and t.get("world_size", 1) == 1
        if not usable and not self._warned:
            self._warned = True
            warnings.warn(
                f"RolloutRecorder: the trainer has {len(weights)} reward weights for the {len(self._names)} reward "
                f"functions this recorder wraps, or runs on {t.get('world_size', 1)} processes: the columns 'reward' "
                "and 'advantage' are left null (wrap every reward function, in the trainer's order)",
                stacklevel=3,
            )
        return (weights if usable else None), g, t.get("scale_rewards", "group"), t.get("aggregation", "sum_then_normalize")

    def _close(self, b: _Batch) -> None:
        n = len(b.texts)
        golds, has_gold = _golds(b.golds, n, "RolloutRecorder", self.answer) if b.golds is not None else ([None] * n, [False] * n)
        if b.golds is not None:
            ok = _verify.verify_batch(b.texts, golds, threads=self.threads).to_pylist()
            correct = [x if g else None for x, g in zip(ok, has_gold, strict=True)]
        else:
            correct = [None] * n
        ids = b.ids if b.ids is not None else [hashlib.sha1(p.encode()).hexdigest()[:16] for p in b.prompts]
        per_func = [b.rewards.get(name, [None] * n) for name in self._names]
        weights, g, scale, aggregation = self._settings(b.mode)
        total: list[float | None] = [None] * n
        advantage: list[float | None] = [None] * n
        if weights is not None and self._names:
            if g is None:
                g = _run_length(ids)
            if g and n % g == 0:
                total, adv = group_advantages(per_func, weights, g, scale_rewards=scale, aggregation=aggregation)
                advantage = list(adv)
            else:
                total = group_advantages(per_func, weights, 1, scale_rewards="none")[0]
        for i in range(n):
            row: dict[str, Any] = {
                "step": b.step,
                "mode": b.mode,
                "problem_id": ids[i],
                "prompt": b.prompts[i],
                "completion": b.texts[i],
                "answer": golds[i],
                "correct": correct[i],
            }
            for name, vals in zip(self._names, per_func, strict=True):
                row[f"reward_{name}"] = vals[i]
            row["reward"], row["advantage"] = total[i], advantage[i]
            for col, vals in b.keep.items():
                row[col] = vals[i]
            self._rows.append(row)
        if len(self._rows) >= self.chunk_rows:
            self._write()

    def _table(self) -> pa.Table:
        rows = self._rows
        typed = {"step": pa.int64(), "mode": pa.string(), "prompt": pa.string(), "completion": pa.string(),
                 "answer": pa.string(), "correct": pa.bool_(), "reward": pa.float64(), "advantage": pa.float64()}
        names = ["step", "mode", "problem_id", "prompt", "completion", "answer", "correct",
                 *(f"reward_{n}" for n in self._names), "reward", "advantage", *self.keep]
        cols = {}
        for name in names:
            vals = [r.get(name) for r in rows]
            kind = typed.get(name, pa.float64() if name.startswith("reward_") else None)
            try:
                cols[name] = pa.array(vals, kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise TypeError(f"RolloutRecorder: column {name!r} holds values of mixed types ({e})") from None
        return pa.table(cols)

    def _write(self) -> None:
        if not self._rows:
            return
        table = self._table()
        final = self.path / f"part-{self.rank:03d}-{self.writer}-{self._seq:06d}.parquet"
        _write_parquet_atomically(table, final)
        self._seq += 1
        self._rows = []
        self.files.append(final)

    # -- lifecycle --------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything recorded so far (batches still missing a reward function's call included)."""
        with self._lock:
            while self._open:
                self._close(self._open.pop(0))
            self._write()

    close = flush

    def attach(self, args: Any = None, model: Any = None) -> None:
        """Take the trainer's GRPO settings (``reward_weights``, ``num_generations``, ``scale_rewards``, ...)
        and its model (whose training flag is the ``mode``). The callback does this; call it yourself only
        when you drive the reward functions without it."""
        with self._lock:
            if model is not None:
                self._model = model
            if args is not None:
                self._trainer = {
                    "reward_weights": getattr(args, "reward_weights", None),
                    "num_generations": getattr(args, "num_generations", None),
                    "num_generations_eval": getattr(args, "num_generations_eval", None),
                    "scale_rewards": getattr(args, "scale_rewards", "group"),
                    "aggregation": getattr(args, "multi_objective_aggregation", "sum_then_normalize"),
                    "world_size": int(getattr(args, "world_size", 1) or 1),
                }

    def callback(self) -> Any:
        """A ``transformers.TrainerCallback`` that gives the recorder the trainer's settings and model, and
        flushes at each save and at the end of training."""
        from transformers import TrainerCallback

        recorder = self

        class RolloutRecorderCallback(TrainerCallback):
            def on_init_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                recorder.attach(args, kw.get("model"))

            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                recorder.attach(args, kw.get("model"))

            def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                recorder.flush()

            def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                recorder.flush()

        return RolloutRecorderCallback()

    @staticmethod
    def read(path: str | os.PathLike[str]) -> pa.Table:
        """All recorded rows under ``path``, in the order written (hidden temporary files are ignored).
        Parts with different columns (a reward function added after a restart, a part from an older
        version) are unified: a column missing from a part is null there."""
        import pyarrow.parquet as pq

        files = sorted(Path(path).glob("part-*.parquet"))
        if not files:
            raise FileNotFoundError(f"{path}: no recorded rollouts (part-*.parquet)")
        tables = [pq.read_table(f) for f in files]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValueError(f"{path}: the recorded parts have incompatible columns ({e})") from None


def _run_length(ids: Sequence[Any]) -> int | None:
    """The group size when ``ids`` is made of equal runs of one length (trl's groups), else None."""
    runs, last, count = [], object(), 0
    for x in ids:
        if x == last:
            count += 1
        else:
            if count:
                runs.append(count)
            last, count = x, 1
    if count:
        runs.append(count)
    return runs[0] if runs and len(set(runs)) == 1 else None


def to_dataset(table: pa.Table) -> Any:
    """A ``datasets.Dataset`` over an Arrow table, without a copy (what the trainers take)."""
    try:
        import datasets
        from datasets.table import InMemoryTable
    except ImportError as e:
        raise ImportError("dataset builders need the `trl` extra: pip install 'stagekit[trl]'") from e
    return datasets.Dataset(InMemoryTable(table))


def sft_dataset(table: Any, **to_sft_options: Any) -> Any:
    """A ``datasets.Dataset`` for ``SFTTrainer`` from a stage table (see :func:`stagekit.to_sft`)."""
    from stagekit.transforms.formats import to_sft

    return to_dataset(to_sft(table, **to_sft_options))


def grpo_dataset(table: Any, **to_grpo_options: Any) -> Any:
    """A ``datasets.Dataset`` for ``GRPOTrainer`` from a stage table (see :func:`stagekit.to_grpo`): the
    conversational prompt plus every other column, which reach the reward functions as keyword arguments."""
    from stagekit.transforms.formats import to_grpo

    return to_dataset(to_grpo(table, **to_grpo_options))
