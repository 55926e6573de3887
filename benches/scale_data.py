"""Synthetic rollouts on disk for the scale benchmark: ``rows`` completions of about ``chars`` characters,
``samples`` per problem (adjacent, as logs write them), written in chunks so that generating 20 GB takes
little memory and little time.

    python benches/scale_data.py /tmp/r.jsonl 1M          # JSONL (or .parquet), 1 kB completions, 8 per problem

Each completion is seeded random words followed by ``so the answer is \\boxed{N}.``: N is the problem's
gold answer for a seeded share of the samples (the problem's own solve rate, uniform in [0, 1]), one more
otherwise, so pass rates cover the whole range and every stage set is filled.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHUNK = 100_000


def parse_rows(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    for suffix, mult in (("k", 1_000), ("m", 1_000_000), ("b", 1_000_000_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * mult)
    return int(text)


def chunk(start: int, n: int, *, samples: int, chars: int, seed: int) -> pa.Table:
    """Rows ``start`` to ``start + n`` (the same rows whatever the chunking)."""
    rng = np.random.default_rng([seed, start])
    width = max(chars - 40, 1)
    letters = rng.integers(97, 123, size=(n, width), dtype=np.uint8)
    letters[rng.random((n, width)) < 0.17] = 32
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    body = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(letters.tobytes()))
    row = np.arange(start, start + n, dtype=np.int64)
    problem = row // samples
    sample = row % samples
    gold = (problem * 7919) % 1000
    rate = ((problem * 2654435761) % 1000) / 1000.0
    coin = np.random.default_rng([seed, start, 1]).random(n)
    said = np.where(coin < rate, gold, gold + 1)
    tail = pa.array([f" so the answer is \\boxed{{{x}}}." for x in said.tolist()], pa.string())
    return pa.table({"problem_id": pa.array(problem), "sample": pa.array(sample),
                     "completion": pc.binary_join_element_wise(body, tail, ""),
                     "answer": pa.array(gold).cast(pa.string())})


def write(path: str | Path, rows: int, *, samples: int = 8, chars: int = 1000, seed: int = 0) -> Path:
    """Write ``rows`` rollouts to ``path`` (.jsonl or .parquet, row groups of one chunk)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    if p.suffix == ".parquet":
        writer = None
        for start in range(0, rows, CHUNK):
            t = chunk(start, min(CHUNK, rows - start), samples=samples, chars=chars, seed=seed)
            writer = writer or pq.ParquetWriter(tmp, t.schema)
            writer.write_table(t)
        if writer is not None:
            writer.close()
    elif p.suffix == ".jsonl":
        with tmp.open("wb") as f:
            for start in range(0, rows, CHUNK):
                t = chunk(start, min(CHUNK, rows - start), samples=samples, chars=chars, seed=seed)
                lines = pc.binary_join_element_wise(
                    '{"problem_id": ', t["problem_id"].cast(pa.string()), ', "sample": ', t["sample"].cast(pa.string()),
                    ', "completion": "', pc.replace_substring(t["completion"], "\\", "\\\\"), '", "answer": "', t["answer"], '"}\n', "").combine_chunks()
                offsets, data = lines.buffers()[1], lines.buffers()[2]
                ends = np.frombuffer(offsets, dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
                f.write(memoryview(data)[ends[0]:ends[-1]])
    else:
        raise SystemExit(f"{p}: .jsonl or .parquet")
    tmp.replace(p)
    return p


if __name__ == "__main__":
    write(sys.argv[1], parse_rows(sys.argv[2]))
