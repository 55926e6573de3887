"""The Ray Data engine (``stagekit.integrations.ray``) gives the local results, up to row order.

One local Ray cluster (``num_cpus=2``) serves the module. For hypothesis-drawn inputs (the strategies of
``test_transforms``, a few examples each), every transform is run locally and on Ray with the data cut
into several blocks and hashed into several buckets, and the two tables are compared after sorting their
rows; ``plan`` is compared with ``stagekit.pipeline.plan`` table by table, and ``generate`` with a fake
generator in an actor pool with the local ``generate``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

ray = pytest.importorskip("ray")

import stagekit as sk  # noqa: E402
import test_transforms as tt  # noqa: E402
from proptest import fixed  # noqa: E402
from stagekit import pipeline  # noqa: E402
from stagekit.generate import Sampling  # noqa: E402
from stagekit.integrations import ray as skr  # noqa: E402

pytestmark = pytest.mark.slow

#: Examples per property: each one runs one or more Ray jobs (tens of milliseconds to a second each).
EXAMPLES = 5
blocks = st.integers(1, 4)
partitions = st.integers(1, 3)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    # The workers cannot import the test modules: ship the fake generator and tokenizer by value.
    for mod in (sys.modules[__name__], tt):
        ray.cloudpickle.register_pickle_by_value(mod)
    skr.init()  # already running: only quiets Ray Data
    yield
    ray.shutdown()


def rows(table: pa.Table, sort_lists: tuple[str, ...] = ()) -> list[dict]:
    """The rows in a canonical order (and the named list columns sorted): equality up to row order."""
    out = [{**r, **{c: sorted(r[c]) for c in sort_lists if r[c] is not None}} for r in table.to_pylist()]
    return sorted(out, key=lambda r: json.dumps(r, sort_keys=True, default=repr))


def assert_same(local: pa.Table, got: pa.Table, sort_lists: tuple[str, ...] = ()) -> None:
    if got.num_columns == 0:  # Ray does not keep the schema of an empty result (see collect)
        assert local.num_rows == 0
        return
    assert [(f.name, f.type) for f in got.schema] == [(f.name, f.type) for f in local.schema]
    assert rows(got, sort_lists) == rows(local, sort_lists)


def on_ray(table: pa.Table, n_blocks: int, f, *args: Any, **kwargs: Any) -> pa.Table:
    return skr.collect(f(skr.dataset(table, blocks=n_blocks), *args, **kwargs))


# ============================================================================================== row-wise


@fixed(EXAMPLES)
@given(rows_=st.lists(st.tuples(st.sampled_from(tt.COMPLETIONS), st.sampled_from(tt.GOLDS)), max_size=12),
       n_blocks=blocks, pool=st.sampled_from([1, 2, (1, 2)]))
def test_score_in_an_actor_pool(rows_, n_blocks, pool):
    t = pa.table({"id": pa.array(range(len(rows_)), pa.int64()), "completion": pa.array([c for c, _ in rows_], pa.string()),
                  "answer": pa.array([a for _, a in rows_], pa.string())})
    assert_same(sk.score(t), on_ray(t, n_blocks, skr.score, actors=pool))


@fixed(EXAMPLES)
@given(rates=st.lists(tt.pass_rate_values, max_size=25), scheme=st.sampled_from(sorted(sk.SCHEMES)), n_blocks=blocks)
def test_bin_difficulty_and_split_stages(rates, scheme, n_blocks):
    t = pa.table({"problem_id": pa.array(range(len(rates)), pa.int64()), "pass_rate": pa.array(rates, pa.float64())})
    binned = skr.map_rows(skr.dataset(t, blocks=n_blocks), sk.bin_difficulty, scheme=scheme).materialize()
    local = sk.bin_difficulty(t, scheme=scheme)
    assert_same(local, skr.collect(binned))
    sets = skr.split_stages(binned)
    for name, part in sk.split_stages(local).items():
        assert_same(part, skr.collect(sets[name]))


@fixed(EXAMPLES)
@given(trs=st.lists(st.one_of(st.none(), tt.traces().map(lambda t: t[0])), max_size=6), method=st.sampled_from(tt.METHODS),
       cuts=tt.cut_specs, n_blocks=blocks)
def test_segment_steps_then_bridge_prompts(trs, method, cuts, n_blocks):
    t = pa.table({"problem_id": pa.array(range(len(trs)), pa.int64()), "prompt": [f"Q{i}" for i in range(len(trs))],
                  "solution": pa.array(trs, pa.string())})
    ds = skr.map_rows(skr.dataset(t, blocks=n_blocks), sk.segment_steps, method=method)
    got = skr.collect(skr.map_rows(ds, sk.bridge_prompts, cuts=cuts))
    assert_same(sk.bridge_prompts(sk.segment_steps(t, method=method), cuts=cuts), got)


@fixed(EXAMPLES)
@given(rows_=st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=5)), st.one_of(st.none(), st.text(max_size=5))),
                      max_size=6),
       system=st.sampled_from([None, "Be brief."]), n_blocks=blocks)
def test_to_sft_and_to_grpo(rows_, system, n_blocks):
    t = pa.table({"prompt": pa.array([p for p, _ in rows_], pa.string()), "completion": pa.array([c for _, c in rows_], pa.string()),
                  "answer": pa.array([str(i) for i in range(len(rows_))], pa.string())})
    for f, opts in ((sk.to_sft, {"system": system, "keep": ["answer"]}), (sk.to_sft, {"format": "prompt_completion"}),
                    (sk.to_grpo, {"system": system})):
        assert_same(f(t, **opts), on_ray(t, n_blocks, skr.map_rows, f, **opts))


# ============================================================================================== group-wise


@fixed(EXAMPLES)
@given(
    rows_=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5)), st.integers(0, 1), tt.correct_values), max_size=40),
    ks=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    multi=st.booleans(), text_ids=st.booleans(), n_blocks=blocks, n_parts=partitions,
)
def test_pass_rates_two_phase_shuffled_or_on_the_driver(rows_, ks, multi, text_ids, n_blocks, n_parts):
    pids = [p if p is None or not text_ids else f"p{p}" for p, _, _ in rows_]
    t = pa.table({"problem_id": pa.array(pids, pa.string() if text_ids else pa.int64()),
                  "step": pa.array([s for _, s, _ in rows_], pa.int64()),
                  "correct": pa.array([c for _, _, c in rows_], pa.bool_())})
    by = ["problem_id", "step"] if multi else "problem_id"
    local = sk.pass_rates(t, by=by, k=ks)
    ds = skr.dataset(t, blocks=n_blocks)
    shuffled = skr.collect(skr.pass_rates(ds, by=by, k=ks, partitions=n_parts), sort_by=by)
    assert shuffled.equals(local) or (shuffled.num_columns == local.num_rows == 0)  # sorted by the keys: the local table
    on_driver = skr.collect_pass_rates(ds, by=by, k=ks)  # counts summed on the driver
    assert on_driver.equals(local) or (on_driver.num_rows == local.num_rows == 0)  # (Ray: no key types when empty)


@fixed(EXAMPLES)
@given(tr=tt.group_rollouts(), include_all_correct=st.booleans(), n_blocks=blocks, n_parts=partitions)
def test_zero_reward_groups(tr, include_all_correct, n_blocks, n_parts):
    t, _ = tr
    local = sk.zero_reward_groups(t, include_all_correct=include_all_correct)
    got = on_ray(t, n_blocks, skr.zero_reward_groups, include_all_correct=include_all_correct, partitions=n_parts)
    assert_same(local, got, sort_lists=("completions",))  # a group's completions come in Ray's row order


@fixed(EXAMPLES)
@given(tr=tt.group_rollouts(), min_visits=st.integers(1, 4), n_blocks=blocks, n_parts=partitions)
def test_persistent_failures(tr, min_visits, n_blocks, n_parts):
    t, _ = tr
    local = sk.persistent_failures(t, min_visits=min_visits)
    assert_same(local, on_ray(t, n_blocks, skr.persistent_failures, min_visits=min_visits, partitions=n_parts))


@fixed(EXAMPLES)
@given(rows_=tt.bridge_rollouts(), tau=st.sampled_from([0.25, 0.5, 1.0]), cap=tt.caps, n_blocks=blocks, n_parts=partitions)
def test_select_bridge(rows_, tau, cap, n_blocks, n_parts):
    t = pa.Table.from_pylist(rows_, schema=tt.SELECT_SCHEMA)
    local = sk.select_bridge(t, tau=tau, **cap)
    got = on_ray(t, n_blocks, skr.select_bridge, tau=tau, partitions=n_parts, **cap)
    # Ties between equally short continuations follow row order: compare the chosen target's length.
    def length(tab: pa.Table) -> pa.Table:
        if "target" not in tab.column_names:
            return tab
        lengths = [None if x is None else len(x) for x in tab["target"].to_pylist()]
        return tab.set_column(tab.column_names.index("target"), "target", pa.array(lengths, pa.int64()))

    assert_same(length(local), length(got))


@fixed(EXAMPLES)
@given(rows_=tt.cft_failures(), kinds=st.lists(st.sampled_from(sk.CFT_KINDS), min_size=1, max_size=3, unique=True),
       columns=st.sampled_from([{}, {"continuations": "cont", "critiques": "crit"}]), n_blocks=blocks, n_parts=partitions)
def test_cft_records(rows_, kinds, columns, n_blocks, n_parts):
    t = pa.Table.from_pylist([{k: r[k] for k in tt.CFT_SCHEMA.names} for r in rows_], schema=tt.CFT_SCHEMA)
    local = sk.cft_records(t, kinds=kinds, **columns)
    assert_same(local, on_ray(t, n_blocks, skr.cft_records, kinds=kinds, partitions=n_parts, **columns))


def test_map_groups_keeps_groups_whole():
    # 200 groups over 7 blocks and 5 buckets: each group's rows meet in one call of the local transform.
    t = pa.table({"g": [f"k{i % 200}" for i in range(1000)], "v": list(range(1000))})
    count = lambda tab, by: tab.group_by(by).aggregate([("v", "count")])  # noqa: E731
    got = skr.collect(skr.map_groups(skr.dataset(t, blocks=7), count, by="g", partitions=5), sort_by="g")
    assert got.to_pylist() == [{"g": f"k{i}", "v_count": 5} for i in sorted(range(200), key=lambda i: f"k{i}")]


# ============================================================================================== plan


@pytest.mark.parametrize("actors", [None, 2])  # score in Ray tasks, or in an actor pool
@fixed(4)
@given(
    problems=st.lists(st.tuples(st.sampled_from(["4", "5", "\\frac12", "#### 4"]), st.integers(1, 6)), min_size=1, max_size=8),
    data=st.data(), scheme=st.sampled_from(sorted(sk.SCHEMES)), k=st.sampled_from([(1, 4, 8), (2, 3)]),
    prescored=st.booleans(), with_problems=st.booleans(), n_blocks=blocks,
)
def test_plan_equals_pipeline_plan(problems, data, scheme, k, prescored, with_problems, n_blocks, actors):
    recs = [{"problem_id": 10 * i, "sample": j, "answer": gold, "completion": data.draw(st.sampled_from(tt.COMPLETIONS))}
            for i, (gold, n) in enumerate(problems) for j in range(n)]
    t = pa.Table.from_pylist(recs, schema=pa.schema([("problem_id", pa.int64()), ("sample", pa.int64()),
                                                      ("answer", pa.string()), ("completion", pa.string())]))
    if prescored:
        t = sk.score(t).select(["problem_id", "sample", "correct"])
    probs = pa.table({"problem_id": [10 * i for i in range(len(problems))], "prompt": [f"Q{i}" for i in range(len(problems))],
                      "solution": [f"S{i}" for i in range(len(problems))]}) if with_problems else None
    config = pipeline.PlanConfig(scheme=scheme, k=k)
    local = pipeline.plan(t, config, probs)
    got = skr.plan(skr.dataset(t, blocks=n_blocks), config, probs, actors=actors)
    assert list(got) == list(local)
    assert_same(local["rollouts"], got["rollouts"])
    for name in ("stats", "sft", "rl", "drop"):
        assert got[name].equals(local[name]), name  # sorted by problem id, exactly the local table


def test_plan_reads_files_and_refuses_empty_input(tmp_path):
    import pyarrow.parquet as pq

    t = pa.table({"problem_id": [1, 1, 2, 2], "completion": ["\\boxed{4}", "5", "\\boxed{7}", "\\boxed{7}"], "answer": ["4"] * 2 + ["7"] * 2})
    pq.write_table(t.slice(0, 2), tmp_path / "a.parquet")
    pq.write_table(t.slice(2), tmp_path / "b.parquet")
    got = skr.plan([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    assert got["stats"].equals(pipeline.plan(t)["stats"])
    with pytest.raises(pipeline.InputError, match="empty"):
        skr.plan(t.slice(0, 0))


# ============================================================================================== generate


class FakeGenerator:
    """A deterministic Generator: completion ``i`` of a prompt names the prompt, ``i`` and the seed."""

    name = "fake"

    def generate(self, prompts, *, n: int, sampling: Sampling) -> list[list[str]]:
        return [[f"{p} -> {i} (seed {sampling.seed}, t={sampling.temperature})" for i in range(n)] for p in prompts]


@fixed(EXAMPLES)
@given(prompts=st.lists(st.text(max_size=6), max_size=9), n=st.integers(1, 3), batch_size=st.integers(1, 4),
       actors=st.sampled_from([1, 2]))
def test_generate_in_an_actor_pool(prompts, n, batch_size, actors):
    t = pa.table({"problem_id": pa.array(range(len(prompts)), pa.int64()), "prompt": pa.array(prompts, pa.string())})
    local = sk.generate(t, FakeGenerator(), n=n, seed=3, temperature=0.5, show_progress=False)
    got = skr.collect(skr.generate(skr.dataset(t, blocks=2), FakeGenerator, n=n, actors=actors, batch_size=batch_size,
                                   seed=3, temperature=0.5))
    assert_same(local, got)


def test_generate_needs_problem_ids():
    with pytest.raises(ValueError, match="needs a 'problem_id' column"):
        skr.generate(skr.dataset(pa.table({"prompt": ["a"]})), FakeGenerator)


# ============================================================================================== errors


def test_errors_surface_on_the_driver_before_any_work():
    ds = skr.dataset(pa.table({"problem_id": [1], "completion": ["x"]}))
    with pytest.raises(sk.SchemaError, match="score: missing column 'answer'"):
        skr.score(ds)
    with pytest.raises(sk.SchemaError, match="pass_counts: missing column 'correct'"):
        skr.pass_rates(ds)
    with pytest.raises(ValueError, match="k must be positive integers"):
        skr.pass_rates(ds, k=0)
    # A function without a column contract is only checked where it runs: Ray wraps the worker's error.
    with pytest.raises(ray.exceptions.RayTaskError, match="returned dict, not a pyarrow.Table"):
        skr.collect(skr.map_rows(ds, lambda t: {"sft": t}))


def test_import_is_lazy_and_names_the_extra():
    code = ("import sys, stagekit, stagekit.integrations.ray as skr; assert 'ray' not in sys.modules, 'ray imported'; "
            "sys.modules['ray'] = None\n"
            "try:\n    skr.init()\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'stagekit[ray]'" in out


# ============================================================================================== files on disk


def _rollouts_file(path, n_problems: int, per: int, rng, chars: int = 1000) -> pa.Table:
    import pyarrow.parquet as pq

    recs = [{"problem_id": f"p{i}", "sample": j, "answer": str(i % 5),
             "completion": "w" * rng.randint(chars // 2, chars) + f" so \\boxed{{{rng.choice([i % 5, 9])}}}"}
            for i in range(n_problems) for j in range(per)]
    t = pa.Table.from_pylist(recs)
    if path.suffix == ".parquet":
        pq.write_table(t, path, row_group_size=rng.randint(1, 40))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return t


@fixed(EXAMPLES)
@given(n_problems=st.integers(1, 30), per=st.integers(1, 6), fmt=st.sampled_from([".jsonl", ".parquet"]),
       unit_bytes=st.integers(300, 30_000), batch_rows=st.sampled_from([None, 1, 7]), seed=st.integers(0, 99))
def test_plan_source_writes_from_the_workers_and_the_driver_gets_counts_only(tmp_path_factory, n_problems, per, fmt,
                                                                              unit_bytes, batch_rows, seed):
    import random

    from stagekit.engine import LocalEngine
    from stagekit.rundir import RunDir
    from stagekit.io import Source
    from stagekit.stagesets import finish_plan

    d = tmp_path_factory.mktemp("src")
    path = d / f"r{fmt}"
    _rollouts_file(path, n_problems, per, random.Random(seed))
    config = pipeline.PlanConfig(k=(1, 2, 4))
    problems = pa.table({"problem_id": [f"p{i}" for i in range(n_problems)], "prompt": [f"Q{i}" for i in range(n_problems)]})
    runs = {}
    for name, plan_source in (("local", LocalEngine().plan_source),
                              ("ray", lambda *a, **k: skr.plan_source(*a, unit_bytes=unit_bytes, **k))):
        run = RunDir(d / name)
        w = run.parts_writer(0, "rollouts")
        counts = plan_source(Source(path, text=("completion", "answer"), batch_rows=batch_rows), config, out=w)
        out = w.install()
        runs[name] = (finish_plan(counts, config, problems), run.read_table(0, "rollouts"), out)
    (local, local_rollouts, _), (ray_, ray_rollouts, ray_out) = runs["local"], runs["ray"]
    for name in ("stats", "sft", "rl", "drop"):
        assert ray_[name].equals(local[name]), name
    assert_same(local_rollouts, ray_rollouts)
    RunDir(d / "ray").verify(ray_out)  # every part as recorded (written, hashed and named by the workers)
    # the driver received counts and part records: a few dozen bytes per problem and part, never completions
    completion_bytes = sum(len(c) for c in local_rollouts["completion"].to_pylist())
    assert skr.plan_source.fetched < 400 * len(ray_out.parts) + 120 * n_problems * len(ray_out.parts) + 1000
    assert skr.plan_source.fetched < completion_bytes


def test_a_piece_far_into_a_file_does_not_count_the_lines_before_it(tmp_path, monkeypatch):
    """A worker's piece names its line only for an error: counting the lines before a piece far into a
    20 GB file is a read of everything before it, per piece (quadratic in the file). Its counts are whole
    when it merges them on the way (a piece of more problems than one merge holds)."""
    import random

    from stagekit import io, stagesets
    from stagekit.io import Source

    path = tmp_path / "r.jsonl"
    _rollouts_file(path, 60, 4, random.Random(0), chars=200)
    counted = []
    monkeypatch.setattr(io._FirstLine, "__int__", lambda self: counted.append(self.offset) or 1)
    monkeypatch.setattr(stagesets, "MERGE_ROWS", 0)
    src = Source(path, text=("completion", "answer"), batch_rows=7)
    units = src.units(target_bytes=4096)
    assert len(units) > 3 and units[-1].start > 0
    got = [skr._plan_unit(u, i, src.text, 7, pipeline.PlanConfig(), None) for i, u in enumerate(units)]
    assert counted == []
    counts = [pa.ipc.open_stream(r["counts"]).read_all() for r in got]
    assert sum(r["rows"] for r in got) == sum(pc.sum(c["n"]).as_py() for c in counts) == 240


def test_plan_source_names_a_bad_line_from_a_worker(tmp_path):
    import random

    from stagekit.io import Source

    path = tmp_path / "r.jsonl"
    _rollouts_file(path, 200, 4, random.Random(0), chars=200)
    lines = path.read_text().splitlines()
    lines[613] = lines[613][:40]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(pipeline.InputError, match=rf"{path}:614: invalid JSON"):
        skr.plan_source(Source(path, text=("completion", "answer")), pipeline.PlanConfig(), unit_bytes=4096)


def test_stagekit_plan_engine_ray_equals_local(tmp_path):
    import random

    from stagekit.cli import main
    from stagekit.rundir import RunDir

    path = tmp_path / "r.jsonl"
    _rollouts_file(path, 50, 4, random.Random(1), chars=300)
    assert main(["plan", str(path), "-o", str(tmp_path / "local")]) == 0
    assert main(["plan", str(path), "-o", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    a, b = RunDir(tmp_path / "local"), RunDir(tmp_path / "ray")
    for name in ("stats", "sft", "rl", "drop"):
        assert a.read_table(0, name).equals(b.read_table(0, name)), name
    assert_same(a.read_table(0, "rollouts"), b.read_table(0, "rollouts"))
    assert main(["report", str(tmp_path / "ray")]) == 0  # every part checked against its record
