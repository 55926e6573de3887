"""Streaming: any batch size, any block size and any cut of a file into units gives the same table as reading
it whole, the same verdicts, the same plan; errors name the file and line wherever the bad line falls."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stagekit as sk
from stagekit.cli import main
from stagekit.io import InputError
from stagekit.stagesets import PlanConfig, PlanCounts, finish_plan_chunks, plan_batches, plan_tables, score_batch
from stagekit.io import Source, read_table, write_batches

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])

_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_answers = st.one_of(st.integers(-10**30, 10**30), st.sampled_from(["4", "1/2", "\\frac{3}{4}", "x=2", "", "0.10", "2020-01-01"]),
                     st.decimals(allow_nan=False, allow_infinity=False, places=3).map(lambda d: float(d)))


@st.composite
def rollouts(draw, min_rows: int = 1):
    n = draw(st.integers(min_rows, 40))
    ids = draw(st.sampled_from(["int", "str"]))
    rows = []
    for i in range(n):
        pid = draw(st.integers(0, 6))
        gold = draw(_answers)
        guess = draw(st.sampled_from([str(gold), "7", None, "\\boxed{" + str(gold) + "}"]))
        row = {"problem_id": pid if ids == "int" else f"q{pid}",
               "completion": None if guess is None else f"{draw(_texts)} the answer is {guess}",
               "answer": gold,
               "note": draw(st.one_of(st.none(), _texts, st.sampled_from(["2021-03-04", "2021-03-04 05:06:07"])))}
        if draw(st.booleans()):
            row["score"] = draw(st.integers(-5, 5))
        rows.append(row)
    return rows


def _literal(v: object) -> str | None:
    """A JSON value of a text column as stagekit reads it: the text as written."""
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v)


def _reference_jsonl(path: Path, text: tuple[str, ...]) -> pa.Table:
    """An independent reader: Python's json, numbers of text columns as written (re-serialised)."""
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            row = json.loads(line, parse_int=str, parse_float=str)
            out = {}
            for k, v in json.loads(line).items():
                out[k] = row[k] if k in text and not isinstance(row[k], (dict, list)) and row[k] is not None \
                    and not isinstance(json.loads(line)[k], bool) else v
                if k in text and isinstance(out[k], (int, float)):
                    out[k] = str(out[k])
            rows.append(out)
    keys = list(dict.fromkeys(k for r in rows for k in r))  # (from_pylist would take the first row's keys only)
    return pa.table({k: [r.get(k) for r in rows] for k in keys})


def _write_jsonl(path: Path, rows: list[dict], rng: random.Random) -> None:
    lines = []
    for r in rows:
        lines.append(json.dumps(r, ensure_ascii=rng.random() < 0.5))
        if rng.random() < 0.1:
            lines.append("   ")
    sep = "\r\n" if rng.random() < 0.2 else "\n"
    path.write_text(sep.join(lines) + (sep if rng.random() < 0.8 else ""), encoding="utf-8")


def _concat(batches) -> pa.Table:
    """Batches whose schemas may widen along the way (a column null at first), as one table."""
    return pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names
    for name in a.column_names:
        assert a[name].to_pylist() == b[name].to_pylist(), name


@SETTINGS
@given(rows=rollouts(), seed=st.integers(0, 10**6), batch_rows=st.integers(1, 17), block=st.integers(16, 4096))
def test_jsonl_in_any_batches_equals_the_whole_file(tmp_path, rows, seed, batch_rows, block):
    rng = random.Random(seed)
    p = tmp_path / f"r{seed}.jsonl"
    _write_jsonl(p, rows, rng)
    text = ("completion", "answer")
    whole = read_table(p, text=text)
    _same(whole.select(sorted(whole.column_names)), _reference_jsonl(p, text).select(sorted(whole.column_names)))
    src = Source(p, text=text, batch_rows=batch_rows, batch_bytes=block)
    batches = list(src.batches())
    assert all(b.num_rows == batch_rows for b in batches[:-1]) and 0 < batches[-1].num_rows <= batch_rows
    got = pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
    got = got.select(sorted(whole.column_names))
    # streamed batches keep the first batch's types; here every block infers the same ones or widens
    assert got is not None and got.num_rows == whole.num_rows
    for name in got.column_names:
        assert got[name].to_pylist() == whole[name].to_pylist(), name
    # byte ranges of the file (as Ray tasks read them) add up to the same rows
    units = Source(p, text=text, batch_bytes=block).units(target_bytes=rng.randint(1, max(p.stat().st_size, 1)))
    parts = [pa.Table.from_batches([b]) for u in units for b in Source(p, text=text, batch_bytes=block).batches([u])]
    joined = pa.concat_tables(parts, promote_options="permissive")
    assert joined["completion"].to_pylist() == whole["completion"].to_pylist()
    assert joined["answer"].to_pylist() == whole["answer"].to_pylist()


@SETTINGS
@given(rows=rollouts(), batch_rows=st.integers(1, 17), group=st.integers(1, 9))
def test_parquet_and_csv_in_any_batches_equal_the_whole_file(tmp_path, rows, batch_rows, group):
    flat = [{**{k: v for k, v in r.items() if k != "score"}, "answer": _literal(r["answer"])} for r in rows]
    table = pa.Table.from_pylist(flat)
    p = tmp_path / f"r{batch_rows}-{group}.parquet"
    pq.write_table(table, p, row_group_size=group)
    got = pa.Table.from_batches(list(Source(p, batch_rows=batch_rows).batches()))
    _same(got, table)
    for u in Source(p).units(target_bytes=1):  # a unit per row group or so
        assert u.stop is not None
    c = tmp_path / f"r{batch_rows}-{group}.csv"
    with c.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(table.column_names)
        for r in flat:
            w.writerow(["" if r[k] is None else r[k] for k in table.column_names])
    ref = pcsv.read_csv(c, convert_options=pcsv.ConvertOptions(column_types={"completion": pa.string(),
                                                                              "answer": pa.string()}))
    got = _concat(Source(c, text=("completion", "answer"), columns=["problem_id", "completion", "answer"],
                         batch_rows=batch_rows, batch_bytes=64).batches())
    assert got["answer"].to_pylist() == ref["answer"].to_pylist()
    assert got["completion"].to_pylist() == ref["completion"].to_pylist()


def test_a_csv_column_that_changes_type(tmp_path):
    """The first block of a CSV file decides its columns' types when it is read in batches: a column empty
    at first is read again as text; one read as numbers, then holding text, is an error naming the line
    (reading the whole file reads it again as text)."""
    c = tmp_path / "r.csv"
    c.write_text("id,note,n\n" + "".join(f"{i},,{i}\n" for i in range(2000)) + "2000,late text,2000\n")
    got = _concat(Source(c, batch_bytes=256).batches())
    assert got["note"].to_pylist()[-1] == "late text" and set(got["note"].to_pylist()[:-1]) <= {None, ""}
    assert read_table(c)["note"].to_pylist() == [""] * 2000 + ["late text"]  # read whole: read again as text
    c.write_text("id,note,n\n" + "".join(f"{i},,{i}\n" for i in range(2000)) + "2000,late text,x\n")
    with pytest.raises(InputError, match=rf"^{c}:2002 \(column 'n'\): column 'n' holds a value that is not int64"):
        list(Source(c, batch_bytes=256).batches())
    whole = read_table(c)
    assert whole["n"].to_pylist()[-2:] == ["1999", "x"]


def test_numbers_in_text_columns_are_read_as_written(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"answer": 123456789012345678901234567890, "x": 1}\n{"answer": 0.10, "x": 2}\n{"answer": 1e400, "x": 3}\n'
                 '{"answer": -0, "x": 4}\n{"answer": "2020-01-01", "x": 5}\n{"answer": true, "x": 6}\n')
    t = read_table(p, text=("answer",))
    assert t["answer"].to_pylist() == ["123456789012345678901234567890", "0.10", "1e400", "-0", "2020-01-01", "true"]
    assert t["x"].to_pylist() == [1, 2, 3, 4, 5, 6]
    dates = tmp_path / "d.jsonl"
    dates.write_text('{"when": "2020-01-01", "t": "2021-03-04 05:06:07"}\n')
    assert read_table(dates).to_pylist() == [{"when": "2020-01-01", "t": "2021-03-04 05:06:07"}]  # strings stay strings
    c = tmp_path / "r.csv"
    c.write_text("answer,x\n123456789012345678901234567890,1\n0.10,2\n")
    assert read_table(c, text=("answer",))["answer"].to_pylist() == ["123456789012345678901234567890", "0.10"]


_CORRUPTIONS = {
    "cut short": lambda line: line[: len(line) // 2],
    "not an object": lambda line: "[1, 2, 3]",
    "invalid UTF-8": lambda line: line.replace("answer", "ans\udcffwer"),
    "trailing garbage": lambda line: line + " }",
    "a bare string": lambda line: '"hello"',
}


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 400), where=st.floats(0, 1), kind=st.sampled_from(sorted(_CORRUPTIONS)),
       block=st.integers(64, 8192), units=st.booleans(), last=st.booleans())
def test_a_bad_line_is_named_wherever_it_falls(tmp_path_factory, n, where, kind, block, units, last):
    d = tmp_path_factory.mktemp("bad")
    p = d / "r.jsonl"
    lines = [json.dumps({"problem_id": i, "completion": f"\\boxed{{{i}}}", "answer": str(i)}) for i in range(n)]
    bad = n - 1 if last else int(where * (n - 1))
    lines[bad] = _CORRUPTIONS[kind](lines[bad])
    p.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + (b"" if last else b"\n"))
    src = Source(p, text=("completion", "answer"), batch_bytes=block)
    with pytest.raises(InputError, match=rf"^{p}:{bad + 1}: "):
        if units:
            for u in src.units(target_bytes=max(block, 200)):
                list(src.batches([u]))
        else:
            list(src.batches())


@SETTINGS
@given(rows=rollouts(), batch_rows=st.integers(1, 13))
def test_verify_in_batches_equals_one_batch(tmp_path, rows, batch_rows):
    p = tmp_path / f"r{batch_rows}.jsonl"
    _write_jsonl(p, rows, random.Random(batch_rows))
    a, b = tmp_path / f"a{batch_rows}.parquet", tmp_path / f"b{batch_rows}.parquet"
    with _quiet():
        assert main(["verify", str(p), "-o", str(a), "--batch-rows", str(batch_rows)]) == 0
        assert main(["verify", str(p), "-o", str(b), "--batch-rows", "100000"]) == 0
    ta, tb = pq.read_table(a), pq.read_table(b)
    _same(ta, tb)
    whole = read_table(p, text=("completion", "answer"))
    verdicts = sk.check_batch(whole["completion"], whole["answer"])
    assert ta["status"].to_pylist() == verdicts["status"].cast(pa.string()).to_pylist()
    assert ta["predicted"].to_pylist() == verdicts["predicted"].to_pylist()


@SETTINGS
@given(rows=rollouts(), batch_rows=st.integers(1, 13), scheme=st.sampled_from(["zero_partial_full", "medium_sft"]))
def test_plan_in_batches_equals_the_in_memory_plan(rows, batch_rows, scheme):
    table = pa.Table.from_pylist([{**r, "answer": _literal(r["answer"])} for r in rows])
    config = PlanConfig(scheme=scheme, k=(1, 2, 4))
    ref = plan_tables(table, config)
    written: list[pa.RecordBatch] = []
    got = plan_batches(table.to_batches(max_chunksize=batch_rows), config, write=written.append)
    for name in ("stats", "sft", "rl", "drop"):
        _same(got[name], ref[name])
    _same(pa.Table.from_batches(written), ref["rollouts"])


@SETTINGS
@given(rows=rollouts(), batch_rows=st.integers(1, 13), piece=st.integers(1, 9), data=st.data())
def test_plan_finished_in_pieces_equals_the_in_memory_plan(rows, batch_rows, piece, data):
    """Counts summed at every batch, the stats and sets made ``piece`` problems at a time, with a problems
    table that lacks some problems, repeats none, and has columns to carry and columns to leave: the pieces
    put end to end are the in-memory plan's tables."""
    table = pa.Table.from_pylist([{**r, "answer": _literal(r["answer"])} for r in rows])
    ids = sorted(set(table["problem_id"].to_pylist()))
    missing = max(ids) + 100 if isinstance(ids[0], int) else "no such problem"
    known = data.draw(st.lists(st.sampled_from(ids), unique=True)) + data.draw(st.sampled_from([[], [missing]]))
    problems = pa.table({"problem_id": pa.array(known, table.schema.field("problem_id").type),
                         "prompt": [f"what is {x}?" for x in known], "solution": [f"{x}" for x in known],
                         "unused": list(range(len(known)))})
    config = PlanConfig(k=(1, 2, 4))
    ref = plan_tables(table, config, problems)
    acc = PlanCounts(config, min_pending=0)
    for batch in table.to_batches(max_chunksize=batch_rows):
        acc.add(score_batch(batch, config))
    pieces = list(finish_plan_chunks(acc.total(), config, problems, rows=piece))
    assert all(p["stats"].num_rows <= piece for p in pieces)
    for name in ("stats", "sft", "rl", "drop"):
        got = pa.concat_tables([p[name] for p in pieces])
        assert got.schema == ref[name].schema, name
        _same(got, ref[name])


@st.composite
def count_parts(draw):
    """Count tables as batches and Ray pieces send them: ids of one type, a gold column that some parts lack
    or hold only nulls in, problems repeated across parts."""
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        ids = draw(st.lists(st.one_of(st.none(), st.integers(0, 9)), min_size=1, max_size=6, unique=True))
        cols = {"problem_id": pa.array(ids, pa.int64()),
                "n": pa.array([draw(st.integers(1, 4)) for _ in ids], pa.int64())}
        cols["n_correct"] = pa.array([draw(st.integers(0, n)) for n in cols["n"].to_pylist()], pa.int64())
        gold = draw(st.sampled_from(["text", "nulls", "none"]))
        if gold == "text":
            cols["answer"] = pa.array([draw(st.one_of(st.none(), st.sampled_from(["1", "2", "x"]))) for _ in ids], pa.string())
        elif gold == "nulls":
            cols["answer"] = pa.nulls(len(ids))
        parts.append(pa.table(cols))
    return parts


@SETTINGS
@given(parts=count_parts(), min_pending=st.integers(0, 12))
def test_counts_merged_at_any_time_are_the_sums_and_first_golds(parts, min_pending):
    acc = PlanCounts(PlanConfig(), min_pending=min_pending)
    for part in parts:
        acc.add_counts(part)
    got = acc.total()
    want: dict[object, list] = {}
    for part in parts:
        for row in part.to_pylist():
            w = want.setdefault(row["problem_id"], [0, 0, None])
            w[0] += row["n"]
            w[1] += row["n_correct"]
            if w[2] is None:
                w[2] = row.get("answer")
    rows = {r["problem_id"]: [r["n"], r["n_correct"], r.get("answer")] for r in got.to_pylist()}
    assert got.num_rows == len(rows) == len(want)
    assert rows == want
    if not any("answer" in p.column_names for p in parts):
        assert got.column_names == ["problem_id", "n", "n_correct"]


@pytest.mark.parametrize("batch_rows", [1, 3, 50])
def test_stagekit_plan_in_batches_equals_the_in_memory_plan(tmp_path, batch_rows):
    rng = random.Random(batch_rows)
    rows = [{"problem_id": f"p{i // 4}", "completion": f"so \\boxed{{{rng.randint(0, 2)}}}", "answer": rng.randint(0, 2)}
            for i in range(80)]
    p = tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with _quiet():
        assert main(["plan", str(p), "-o", str(tmp_path / "run"), "--batch-rows", str(batch_rows)]) == 0
    ref = plan_tables(read_table(p, text=("completion", "answer")), PlanConfig())
    from stagekit.rundir import RunDir

    run = RunDir(tmp_path / "run")
    for name in ("rollouts", "stats", "sft", "rl", "drop"):
        _same(run.read_table(0, name), ref[name])
    for name in ("sft", "rl", "drop"):  # every set carries the gold, streamed or not (issue 13)
        assert "answer" in run.read_table(0, name).column_names


def test_score_batches_equals_score():
    t = pa.table({"completion": ["\\boxed{4}", "x", None, "the answer is 5"] * 5, "answer": ["4", "4", "1", "5"] * 5})
    whole = sk.score(t)
    for size in (1, 3, 7, 100):
        got = pa.Table.from_batches(list(sk.score_batches(t.to_batches(max_chunksize=size))))
        _same(got, whole)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=6))
    _same(pa.Table.from_batches(list(sk.score_batches(reader))), whole)


def test_a_directory_or_glob_of_parts(tmp_path):
    """What a RolloutRecorder or trl's completions logging leaves: parts whose columns grew over time."""
    d = tmp_path / "completions"
    d.mkdir()
    pq.write_table(pa.table({"step": [1, 1], "completion": ["\\boxed{1}", "2"], "answer": ["1", "1"]}),
                   d / "completions_00001.parquet")
    pq.write_table(pa.table({"step": [2], "completion": ["\\boxed{3}"], "answer": ["3"], "reward_new": [1.0]}),
                   d / "completions_00002.parquet")
    (d / ".completions_00003.parquet.abcd.sk-tmp").write_bytes(b"half a file")  # a writer's temporary: skipped
    t = read_table(d)
    assert t["step"].to_pylist() == [1, 1, 2] and t["reward_new"].to_pylist() == [None, None, 1.0]
    assert read_table(tmp_path / "completions" / "*.parquet").num_rows == 3
    out = tmp_path / "v.parquet"
    with _quiet():
        assert main(["verify", str(d), "-o", str(out), "--batch-rows", "1"]) == 0
    assert pq.read_table(out)["reward_new"].to_pylist() == [None, None, 1.0]
    assert pq.read_table(out)["status"].to_pylist() == ["correct", "incorrect", "correct"]


def test_write_batches_is_atomic(tmp_path):
    out = tmp_path / "o.parquet"
    pq.write_table(pa.table({"x": [1]}), out)

    def broken():
        yield pa.record_batch({"x": [2]})
        raise InputError("bad line 7")

    with pytest.raises(InputError):
        write_batches(out, broken())
    assert pq.read_table(out)["x"].to_pylist() == [1] and [p.name for p in tmp_path.iterdir()] == ["o.parquet"]


def _quiet():
    import contextlib

    return contextlib.redirect_stdout(io.StringIO())


def test_memory_is_bounded_by_the_batch(tmp_path):
    """Reading a file 20x the batch size keeps at most a few batches in memory (Arrow's allocator)."""
    p = tmp_path / "big.jsonl"
    row = json.dumps({"problem_id": 1, "completion": "x" * 1000, "answer": "1"})
    with p.open("w") as f:
        for _ in range(20_000):
            f.write(row + "\n")
    pool = pa.default_memory_pool()
    peak = 0
    for b in Source(p, batch_bytes=1 << 20).batches():
        peak = max(peak, pool.bytes_allocated())
        del b
    assert peak < 12 << 20, peak  # 20 MB of input; a batch is 1 MB


def test_counts_in_batches_equal_pass_rates():
    rng = random.Random(3)
    t = pa.table({"problem_id": [rng.randint(0, 30) for _ in range(500)], "correct": [rng.random() < 0.3 for _ in range(500)]})
    counts = pa.concat_tables([sk.pass_counts(pa.Table.from_batches([b])) for b in t.to_batches(max_chunksize=37)])
    got = sk.pass_rates_from_counts(sk.sum_counts(counts), k=(1, 4))
    _same(got, sk.pass_rates(t, k=(1, 4)))
    assert pc.sum(got["n"]).as_py() == 500


@pytest.mark.parametrize("block", [64, 300, 5000])
def test_asking_every_batch_for_its_position_reads_nothing_again(tmp_path, monkeypatch, block):
    # Every reader asks `position` once per batch (for messages): counting lines from the start of the file
    # each time made a 20 GB verify read 3.5 TB. A unit's lines are counted as its blocks go by (that the
    # numbers are right: the bad-line tests above, which name lines wherever blocks and units cut).
    rng = random.Random(block)
    lines = [json.dumps({"completion": "x" * rng.randint(0, 80), "answer": str(i)}) if rng.random() > 0.1 else ""
             for i in range(400)]
    p = tmp_path / "r.jsonl"
    text = "\n".join(lines) + "\n"
    p.write_text(text)
    opened: list[Path] = []
    real_open = Path.open

    def counting_open(self, *args, **kwargs):
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    src = Source(p, text=("answer",), batch_bytes=block)
    for unit in [*src.units(), *src.units(target_bytes=len(text) // 3)]:
        before, last = len(opened), 0
        for _ in src.batches([unit]):
            where, line = src.position.rsplit(":", 1)
            assert where == str(p) and int(line) >= last
            last = int(line)
        assert len(opened) - before <= (1 if unit.start == 0 else 2)  # the unit's reader, and one count
