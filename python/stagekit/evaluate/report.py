"""The HTML report of an evaluation directory (``stagekit eval``), drawn with :mod:`stagekit.report`'s
page and chart helpers."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.report import bar_chart, cards, chart, examples_table, grouped_bars, page_head

__all__ = ["build_eval_report", "write_eval_report"]

_STATUS_COLORS = {"correct": "#54a24b", "incorrect": "#e45756", "no_answer": "#bab0ac", "unparseable": "#b279a2"}


def _read(path: Path) -> pa.Table | None:
    import pyarrow.parquet as pq

    return pq.read_table(path) if path.is_file() else None


def _metric_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda x: (x.startswith("maj@"), int(x.split("@")[1])))


def build_eval_report(out: str | os.PathLike[str]) -> str:
    """The report's HTML for an evaluation directory written by :func:`stagekit.evaluate.run_eval`."""
    from stagekit.rundir import RunDir

    d = Path(out)
    m = RunDir(d).manifest()
    info = m.extra.get("eval", {})
    order = [b for b in info.get("order", []) if f"{b}/score" in m.steps]
    benches = {b: m.steps[f"{b}/score"].notes for b in order}
    seconds = {b: sum(r.seconds for n, r in m.steps.items() if n.startswith(f"{b}/sample-")) for b in order}
    st, model = m.config, info.get("student", {})
    conf = round(100 * st.get("confidence", 0.95))
    page = page_head(m.command, m.created, m.versions)
    page.append(f"<p class='meta'>model: {html.escape(str(model.get('model', '')))} "
                f"({html.escape(str(model.get('generator', '')))}) · k = {st.get('k')} samples per problem · "
                f"temperature {st.get('temperature')} · top-p {st.get('top_p')} · max {st.get('max_new_tokens')} "
                f"new tokens · seed {st.get('seed')}</p>")
    page.append(cards([("benchmarks", len(benches)), ("problems", sum(b["problems"] for b in benches.values())),
                       ("completions", sum(b["samples"] for b in benches.values()))]))
    names = _metric_order(list({n for b in benches.values() for n in b["metrics"]}))
    if benches:
        series = {n: [benches[b]["metrics"].get(n, {}).get("value", 0.0) for b in order] for n in names}
        ivs = {n: [(benches[b]["metrics"].get(n, {}).get("low", 0.0), benches[b]["metrics"].get(n, {}).get("high", 0.0))
                   for b in order] for n in names}
        width = max(520, 90 * len(order) * max(len(names), 1) // 2)
        page.append("<div class='charts'>" + chart(grouped_bars(order, series, f"Accuracy by benchmark ({conf}% intervals)",
                                                                width=width, intervals=ivs,
                                                                colors=("#4c78a8", "#f58518", "#54a24b", "#b279a2"))) + "</div>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["benchmark", "source", "problems", "samples", *names])
    body = []
    for b, rec in benches.items():
        cells = [b, rec.get("source", ""), rec["problems"], rec["samples"]]
        for n in names:
            x = rec["metrics"].get(n)
            cells.append(f"{100 * x['value']:.1f} [{100 * x['low']:.1f}, {100 * x['high']:.1f}]" if x else "")
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    page.append(f"<h2>Results</h2><table><tr>{head}</tr>{''.join(body)}</table>")
    page.append(f"<p class='meta'>Percent; {conf}% Wilson score intervals over problems. pass@1: mean over "
                "problems of the fraction of the k samples verified correct. pass@j: the unbiased estimator "
                "1 - C(n-c, j)/C(n, j) of Chen et al. (2021). maj@k: the majority answer of the k samples "
                "(answers grouped by the verifier's equivalence; ties to the answer voted first) is correct.</p>")
    for b, rec in benches.items():
        page.append(f"<h2>{html.escape(b)}</h2><p class='meta'>{html.escape(rec.get('description', ''))} · "
                    f"{html.escape(str(rec.get('source', '')))} · sampled in {seconds[b]:.1f} s</p>")
        problems = _read(d / b / "problems.parquet")
        verdicts = _read(d / b / "completions.parquet")
        charts = []
        statuses = rec.get("statuses", {})
        labels = list(_STATUS_COLORS)
        charts.append(chart(bar_chart(labels, [statuses.get(s, 0) for s in labels], f"{b}: verdicts of {rec['samples']} completions",
                                      color=[_STATUS_COLORS[s] for s in labels])))
        if problems is not None and problems.num_rows:
            k = int(pc.max(problems["n"]).as_py())
            counts = Counter(problems["n_correct"].to_pylist())
            charts.append(chart(bar_chart([f"{c}/{k}" for c in range(k + 1)], [counts.get(c, 0) for c in range(k + 1)],
                                          f"{b}: problems by correct samples", color="#4c78a8")))
        page.append("<div class='charts'>" + "".join(charts) + "</div>")
        if verdicts is not None and problems is not None:
            q = problems.select(["problem_id", "question"])
            for status, title in (("correct", "Correct completions"), ("incorrect", "Incorrect completions"),
                                  ("no_answer", "Completions without an answer")):
                part = verdicts.filter(pc.equal(verdicts["status"], status))
                if part.num_rows:
                    part = part.slice(0, 3).join(q, "problem_id")
                    page.append(f"<h4>{title}</h4>" + examples_table(part, ["problem_id", "question", "completion", "predicted", "gold"]))
    page.append("</body></html>")
    return "\n".join(page)


def write_eval_report(out: str | os.PathLike[str]) -> Path:
    """(Re)build ``report.html`` in an evaluation directory, atomically."""
    from stagekit.io import atomic_write

    return atomic_write(Path(out) / "report.html", build_eval_report(out)).path
