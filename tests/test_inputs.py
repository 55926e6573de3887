"""What users hand to stagekit: every input path (transforms, ``to_grpo``/``to_sft``, ``sk.trl`` dataset
builders, ``pipe``) takes the rows a Hugging Face ``datasets.Dataset`` selects (after filter, shuffle,
select, train_test_split), a ``LazyBatch`` from ``Dataset.map(batched=True)``, a polars LazyFrame, a list
of row dicts and integer gold columns; and reads the gold from ``answer``, else ``solution``."""

from __future__ import annotations

import functools

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stagekit as sk
from stagekit.transforms import as_table
from proptest import fixed

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()


def _table(rows: list[tuple[int, int, int, bool]]) -> pa.Table:
    """One row per completion: a unique ``row`` id, problem_id, completion, an integer gold, step."""
    return pa.table(
        {
            "row": pa.array(range(len(rows)), pa.int64()),
            "problem_id": pa.array([p for p, _, _, _ in rows], pa.int64()),
            "prompt": [f"Problem {p}: what is {g}?" for p, _, g, _ in rows],
            "completion": [f"so $\\boxed{{{c}}}$" if boxed else f"I think {c}" for _, c, _, boxed in rows],
            "answer": pa.array([g for _, _, g, _ in rows], pa.int64()),
            "step": pa.array([0] * len(rows), pa.int64()),
        }
    )


rows_st = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(0, 3), st.booleans()), min_size=1, max_size=40
)

# one dataset operation: (name, parameter)
op_st = st.one_of(
    st.tuples(st.just("filter"), st.integers(0, 2)),
    st.tuples(st.just("shuffle"), st.integers(0, 2**16)),
    st.tuples(st.just("select"), st.lists(st.integers(0, 10**6), max_size=30)),
    st.tuples(st.just("split_train"), st.integers(0, 2**16)),
    st.tuples(st.just("split_test"), st.integers(0, 2**16)),
    st.tuples(st.just("sort"), st.just(None)),
)


def _apply(ds, table: pa.Table, op):
    """The datasets operation, and the equivalent pyarrow filter (a mask) or take (of the rows the
    datasets view selects, read through its public column access)."""
    name, arg = op
    if name == "filter":
        out = ds.filter(lambda r, m=arg: r["problem_id"] % 3 != m)
        return out, table.filter(pa.array([p % 3 != arg for p in table["problem_id"].to_pylist()], pa.bool_()))
    if name == "select":
        idx = [i % len(ds) for i in arg] if len(ds) else []
        return ds.select(idx), table.take(pa.array(idx, pa.int64()))
    if name == "shuffle":
        out = ds.shuffle(seed=arg)
    elif name == "sort":
        out = ds.sort("completion")
    else:
        if len(ds) < 2:
            return ds, table
        parts = ds.train_test_split(test_size=0.3, seed=arg)
        out = parts["train" if name == "split_train" else "test"]
    # a permutation or a subset: the pyarrow take of the rows datasets says the view holds
    positions = {r: i for i, r in enumerate(table["row"].to_pylist())}
    return out, table.take(pa.array([positions[r] for r in out["row"]], pa.int64()))


def _view(rows, ops):
    base = _table(rows)
    ds, expected = datasets.Dataset(datasets.table.InMemoryTable(base)), base
    for op in ops:
        ds, expected = _apply(ds, expected, op)
    return ds, expected


@fixed(40)
@given(rows=rows_st, ops=st.lists(op_st, min_size=1, max_size=3))
def test_dataset_views_give_the_same_rows_as_pyarrow_filter_and_take(rows, ops):
    ds, expected = _view(rows, ops)
    assert len(ds) == expected.num_rows
    assert as_table(ds).equals(expected)
    assert sk.score(ds).equals(sk.score(expected))
    assert sk.pipe(ds, sk.score).equals(sk.score(expected))
    if expected.num_rows:
        assert sk.pass_rates(sk.score(ds), k=(1, 2)).equals(sk.pass_rates(sk.score(expected), k=(1, 2)))
        assert sk.zero_reward_groups(sk.score(ds)).equals(sk.zero_reward_groups(sk.score(expected)))
    assert sk.to_grpo(ds).equals(sk.to_grpo(expected))
    assert sk.to_sft(ds).equals(sk.to_sft(expected))


@fixed(10)
@given(rows=rows_st, ops=st.lists(op_st, min_size=1, max_size=2))
def test_trl_dataset_builders_take_the_selected_rows(rows, ops):
    trl_mod = pytest.importorskip("stagekit.integrations.trl")
    ds, expected = _view(rows, ops)
    assert trl_mod.grpo_dataset(ds).to_list() == sk.to_grpo(expected).to_pylist()
    assert trl_mod.sft_dataset(ds).to_list() == sk.to_sft(expected).to_pylist()


def test_the_issue_case_filter_then_score_and_pass_rates():
    # 32 problems x 4 completions; the filter keeps 2 problems: 8 rows, not 128
    base = _table([(p, s % 3, 1, True) for p in range(32) for s in range(4)])
    ds = datasets.Dataset(datasets.table.InMemoryTable(base)).filter(lambda r: r["problem_id"] < 2)
    assert sk.score(ds).num_rows == 8
    assert sk.pass_rates(sk.score(ds), k=(1, 4)).num_rows == 2
    assert sk.to_grpo(ds).num_rows == 8


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_dataset_map_batched_score(batch_size):
    base = _table([(p, s, s % 2, s % 3 > 0) for p in range(5) for s in range(4)])
    ds = datasets.Dataset(datasets.table.InMemoryTable(base)).shuffle(seed=3)
    mapped = ds.map(sk.score, batched=True, batch_size=batch_size)
    expected = sk.score(as_table(ds))
    assert mapped.to_list() == expected.to_pylist()
    assert mapped.column_names == expected.column_names


def test_dataset_map_unbatched_says_to_batch():
    ds = datasets.Dataset.from_dict({"completion": ["\\boxed{1}"], "answer": ["1"]})
    with pytest.raises(TypeError, match="batched=True"):
        ds.map(sk.score)


def test_a_dataset_dict_or_iterable_dataset_is_refused_by_name():
    d = datasets.Dataset.from_dict({"completion": ["x"], "answer": ["1"]})
    with pytest.raises(TypeError, match=r"DatasetDict.*ds\['train'\]"):
        sk.score(datasets.DatasetDict({"train": d}))
    with pytest.raises(TypeError, match="IterableDataset"):
        sk.score(d.to_iterable_dataset())


def test_polars_lazyframe_list_of_dicts_and_integer_gold():
    pl = pytest.importorskip("polars")
    rows = [{"problem_id": 1, "completion": "\\boxed{72}", "answer": 72},
            {"problem_id": 1, "completion": "\\boxed{71}", "answer": 72},
            {"problem_id": 2, "completion": "the answer is 0.5", "answer": 0.5}]
    expected = sk.score(pa.Table.from_pylist([{**r, "answer": str(r["answer"])} for r in rows]))
    assert sk.score(rows).to_pylist() == expected.to_pylist()
    assert sk.score(pl.DataFrame(rows).lazy()).to_pylist() == expected.to_pylist()
    assert sk.score(rows)["correct"].to_pylist() == [True, False, True]
    assert sk.score(rows).schema.field("answer").type == pa.string()
    # cft_records' gold too
    recs = sk.cft_records([{"problem_id": 1, "prompt": "P", "answer": 26, "completion": "13 * 2 = 27. A: 27"}],
                          kinds=("diagnosis",))
    assert recs["answer"].to_pylist() == ["26"]


def test_gold_falls_back_to_trls_solution_column():
    t = pa.table({"completion": ["\\boxed{72}", "\\boxed{7}"], "solution": ["48/2 = 24\n#### 72", "\\boxed{7}"]})
    assert sk.score(t)["correct"].to_pylist() == [True, True]
    # `answer` wins when both are present
    both = t.append_column("answer", pa.array(["72", "8"]))
    assert sk.score(both)["correct"].to_pylist() == [True, False]
    # an explicit option is never replaced
    with pytest.raises(sk.SchemaError, match="'gold'"):
        sk.score(t, answer="gold")
    with pytest.raises(sk.SchemaError, match="nor its fallback 'solution'"):
        sk.score(pa.table({"completion": ["x"]}))


def test_pipe_and_partials_take_dataset_views():
    base = _table([(p, s, 1, True) for p in range(6) for s in range(3)])
    ds = datasets.Dataset(datasets.table.InMemoryTable(base)).select([5, 4, 3])
    out = sk.pipe(ds, sk.score, functools.partial(sk.pass_rates, k=1))
    assert out["problem_id"].to_pylist() == [1]
    assert out["n"].to_pylist() == [3]
