r"""Training recipes of ``stagekit run --recipe``: which problems each round's SFT and RL stages train on.

Every recipe starts from the same round: the student measured on every problem (k verified samples) and
planned into difficulty bins (``plan``: ``stats``, ``sft``, ``rl``, ``drop`` under ``--scheme``). A recipe
then picks the round's **SFT set** and **RL set** (:func:`recipe_sets`, pure):

=============  ==============================================================  ==================================
recipe         SFT set (the trained examples: the problems' teacher traces)    RL set (GRPO prompts)
=============  ==============================================================  ==================================
``staged``     the scheme's SFT set: hard problems through the Bridge, plain   the scheme's RL set
               traces of the others, plus last round's CFT records
``sft_only``   the problems the student fails (no sample of k correct)         none
``distill``    every problem                                                   none
``rl_only``    none                                                            every problem
``sft_then_rl`` every problem                                                  every problem
=============  ==============================================================  ==================================

Only ``staged`` uses the Bridge (its SFT set's ``bridge`` rows) and CFT (the all-zero GRPO groups as the next
round's SFT records); in the other recipes every SFT problem is trained on its plain teacher trace, and
problems without one give no SFT example. The budget is the same for every recipe: an SFT stage, when the
recipe has one and its set is not empty, runs ``--sft-steps`` optimizer steps of ``--sft-batch-size``
examples; an RL stage ``--grpo-steps`` steps of ``--grpo-prompts`` prompts x ``--num-generations``
completions. A recipe without a stage does not spend that stage's steps elsewhere.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.config import RECIPES

__all__ = ["CFT_RECIPES", "RECIPES", "RECIPE_STAGES", "recipe_sets"]

#: The stages each recipe trains, in order.
RECIPE_STAGES: dict[str, tuple[str, ...]] = {
    "staged": ("sft", "rl"),
    "sft_only": ("sft",),
    "distill": ("sft",),
    "rl_only": ("rl",),
    "sft_then_rl": ("sft", "rl"),
}
#: The recipes that turn the all-zero GRPO groups into CFT records for the next round's SFT set.
CFT_RECIPES = ("staged",)


def _every_problem(stats: pa.Table, problems: pa.Table) -> pa.Table:
    """Every problem's stats row with its problem columns (the columns a plan's stage sets have), by id, with
    ``bridge`` false: outside ``staged`` no teacher trace goes through the Bridge."""
    keep = [c for c in problems.column_names if c != "problem_id" and c not in stats.column_names]
    ptab = problems.select(["problem_id", *keep])
    if ptab.schema.field("problem_id").type != stats.schema.field("problem_id").type:
        ptab = ptab.set_column(0, "problem_id", ptab["problem_id"].cast(stats.schema.field("problem_id").type))
    out = stats.join(ptab, "problem_id").sort_by("problem_id")
    flag = pa.array([False] * out.num_rows, pa.bool_())
    if "bridge" in out.column_names:
        return out.set_column(out.column_names.index("bridge"), "bridge", flag)
    return out.append_column("bridge", flag)


def recipe_sets(recipe: str, *, stats: pa.Table, sft: pa.Table, rl: pa.Table, problems: pa.Table) -> dict[str, pa.Table]:
    """The SFT and RL sets of one round under ``recipe`` (see the module docstring): ``{"sft_set", "rl_set"}``.

    ``stats``, ``sft`` and ``rl`` are the round's plan (one stats row per problem: ``problem_id``, ``n``,
    ``n_correct``, ``pass_rate``, ...; the scheme's stage sets); ``problems`` the run's problems
    (``problem_id``, ``prompt``, ``answer``, ``solution``, ...). Both sets have the plan's stage-set columns.

    >>> stats = pa.table({"problem_id": ["a", "b", "c"], "n": [4, 4, 4], "n_correct": [0, 2, 4],
    ...                   "pass_rate": [0.0, 0.5, 1.0], "bridge": [True, False, False]})
    >>> problems = pa.table({"problem_id": ["a", "b", "c"], "prompt": ["A?", "B?", "C?"], "solution": ["1", "2", "3"]})
    >>> plan = {"sft": stats.slice(0, 1), "rl": stats.slice(1, 1)}
    >>> {r: [s[x]["problem_id"].to_pylist() for x in ("sft_set", "rl_set")]
    ...  for r in RECIPES for s in [recipe_sets(r, stats=stats, problems=problems, **plan)]}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'staged': [['a'], ['b']], 'sft_only': [['a'], []], 'distill': [['a', 'b', 'c'], []],
     'rl_only': [[], ['a', 'b', 'c']], 'sft_then_rl': [['a', 'b', 'c'], ['a', 'b', 'c']]}
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    if recipe == "staged":
        return {"sft_set": sft, "rl_set": rl}
    every = _every_problem(stats, problems)
    none = every.slice(0, 0)
    if recipe == "sft_only":
        fails = every.filter(pc.equal(every["n_correct"], 0))
        return {"sft_set": fails, "rl_set": none}
    if recipe == "distill":
        return {"sft_set": every, "rl_set": none}
    if recipe == "rl_only":
        return {"sft_set": none, "rl_set": every}
    return {"sft_set": every, "rl_set": every}  # sft_then_rl
