"""The HTML report of a run directory: self-contained (inline SVG charts, no external files).

The page and chart helpers (:func:`page_head`, :func:`bar_chart`, :func:`line_chart`, :func:`grouped_bars`,
:func:`chart`, :func:`cards`, :func:`examples_table`) are public so other reports (``stagekit eval``'s) are
drawn the same way.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError, atomic_write
from stagekit.rundir import Manifest, RunDir, StepRecord

__all__ = ["bar_chart", "build_report", "cards", "chart", "examples_table", "grouped_bars", "histogram", "line_chart",
           "page_head", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1d232b;
background:#f7f8fa}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e3e7ee;padding-bottom:.3rem}
.meta{color:#5b6573;font-size:.9rem}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{background:#fff;border-radius:10px;padding:.8rem 1.1rem;box-shadow:0 1px 3px #0002;min-width:120px}
.card b{display:block;font-size:1.6rem}.card span{color:#5b6573;font-size:.85rem}
.charts{display:flex;gap:1.2rem;flex-wrap:wrap}.chart{background:#fff;border-radius:10px;padding:.6rem;
box-shadow:0 1px 3px #0002}table{border-collapse:collapse;background:#fff;font-size:.85rem;width:100%}
td,th{border-bottom:1px solid #e3e7ee;padding:.35rem .5rem;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;margin:0;font-size:.8rem;max-height:14rem;overflow:auto}
details{margin:.3rem 0}summary{cursor:pointer}
"""

_COLORS = {"sft": "#4c78a8", "bridge": "#9ecae9", "rl": "#f58518", "drop": "#bab0ac"}


def _svg_head(title: str, width: int, height: int) -> str:
    """An SVG chart's opening tag, its accessible title and the title drawn on top."""
    t = html.escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"><title>{t}</title>'
            f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">{t}</text>')


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, *, color: str | list[str] = "#4c78a8",
               width: int = 520, height: int = 260, fmt: str = "{:g}") -> str:
    """An SVG bar chart with value labels."""
    n = max(len(values), 1)
    top = max([float(v) for v in values] + [1.0])
    left, bottom, pad = 40, 48, 24
    bw = (width - left - pad) / n
    colors = color if isinstance(color, list) else [color] * n
    parts = [_svg_head(title, width, height),
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - pad}" y2="{height - bottom}" stroke="#888"/>']
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        h = (height - bottom - 44) * float(v) / top
        x = left + i * bw + bw * 0.12
        y = height - bottom - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.76:.1f}" height="{h:.1f}" fill="{colors[i]}" rx="2"/>')
        parts.append(f'<text x="{x + bw * 0.38:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">{fmt.format(v)}</text>')
        parts.append(f'<text x="{x + bw * 0.38:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">{html.escape(lab)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(xs: list[float], ys: list[float], title: str, *, xlabel: str = "RL step", ymax: float | None = 1.0,
                width: int = 520, height: int = 260, color: str = "#e45756") -> str:
    """An SVG line chart from 0 to ``ymax`` (None: the data's maximum)."""
    left, bottom, pad = 44, 40, 24
    if not xs:
        return ""
    top = ymax if ymax is not None else (max(ys) or 1.0)
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    sx = lambda x: left + (width - left - pad) * (x - x0) / (x1 - x0)  # noqa: E731
    sy = lambda y: height - bottom - (height - bottom - 30) * y / top  # noqa: E731
    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
    ticks = "".join(f'<text x="{sx(x):.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="10">{x:g}</text>'
                    for x in (xs if len(xs) <= 12 else xs[:: max(len(xs) // 8, 1)]))
    return (_svg_head(title, width, height)
            + f'<line x1="{left}" y1="{sy(0)}" x2="{width - pad}" y2="{sy(0)}" stroke="#888"/>'
            f'<line x1="{left}" y1="{sy(top)}" x2="{width - pad}" y2="{sy(top)}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{sy(top) + 4}" text-anchor="end" font-size="11">{top:.3g}</text>'
            f'<text x="{left - 6}" y="{sy(0) + 4}" text-anchor="end" font-size="11">0</text>'
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>'
            + "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in zip(xs, ys, strict=True))
            + ticks + f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" font-size="11">{html.escape(xlabel)}</text></svg>')


def grouped_bars(labels: list[str], series: dict[str, list[float]], title: str, *, width: int = 520,
                 height: int = 260, colors: tuple[str, ...] = ("#bab0ac", "#4c78a8", "#f58518", "#54a24b"),
                 intervals: dict[str, list[tuple[float, float]]] | None = None) -> str:
    """An SVG chart of bars grouped by label, one bar per series, values in [0, 1], with a legend;
    ``intervals`` (series -> (low, high) per label) draws each bar's interval as a whisker."""
    left, bottom, pad = 40, 48, 24
    n, k = max(len(labels), 1), max(len(series), 1)
    gw = (width - left - pad) / n
    bw = gw * 0.8 / k
    sy = lambda y: height - bottom - (height - bottom - 52) * y  # noqa: E731
    parts = [_svg_head(title, width, height),
             f'<line x1="{left}" y1="{sy(0)}" x2="{width - pad}" y2="{sy(0)}" stroke="#888"/>',
             f'<text x="{left - 6}" y="{sy(1) + 4}" text-anchor="end" font-size="11">1</text>']
    for j, (name, values) in enumerate(series.items()):
        c = colors[j % len(colors)]
        parts.append(f'<rect x="{left + j * 110}" y="26" width="10" height="10" fill="{c}"/>'
                     f'<text x="{left + j * 110 + 14}" y="35" font-size="11">{html.escape(name)}</text>')
        for i, v in enumerate(values):
            x = left + i * gw + gw * 0.1 + j * bw
            parts.append(f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{bw * 0.92:.1f}" height="{sy(0) - sy(v):.1f}" fill="{c}" rx="2"/>')
            top = v
            if intervals and name in intervals:
                lo, hi = intervals[name][i]
                xm = x + bw * 0.46
                parts.append(f'<path d="M{xm:.1f},{sy(lo):.1f}V{sy(hi):.1f}M{xm - 3:.1f},{sy(lo):.1f}h6M{xm - 3:.1f},{sy(hi):.1f}h6" '
                             f'stroke="#1d232b" stroke-width="1"/>')
                top = max(v, hi)
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{sy(top) - 3:.1f}" text-anchor="middle" font-size="9">{v:.2f}</text>')
    for i, lab in enumerate(labels):
        parts.append(f'<text x="{left + i * gw + gw / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">{html.escape(lab)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values: Sequence[float], bins: int = 10) -> list[int]:
    """Counts of pass rates in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    counts = [0] * bins
    for v in values:
        if v is not None:
            counts[min(int(v * bins), bins - 1)] += 1
    return counts


def _pass_rate_chart(stats: Iterable[pa.RecordBatch], round_: int) -> str:
    """Problems by correct samples (when every problem has the same ``n``, at most 16) or by pass rate in
    tenths, from the ``n``, ``n_correct`` and ``pass_rate`` columns of the stats read batch by batch."""
    ns: set[int] = set()
    correct: Counter[int] = Counter()
    tenths = [0] * 10
    for batch in stats:
        if len(ns) <= 1:
            ns.update(pc.unique(batch.column("n")).to_pylist())
            vc = pc.value_counts(batch.column("n_correct"))
            correct.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)))
        tenths = [a + b for a, b in zip(tenths, histogram(batch.column("pass_rate").to_pylist(), 10), strict=True)]
    if len(ns) == 1 and next(iter(ns)) <= 16:
        n = next(iter(ns))
        labels = [f"{c}/{n}" for c in range(n + 1)]
        values = [correct.get(c, 0) for c in range(n + 1)]
    else:
        values = tenths
        labels = [f"{i / 10:.1f}" for i in range(10)]
    if not any(values):
        return ""
    return bar_chart(labels, values, f"Round {round_}: problems by pass rate")


def examples_table(table: pa.Table | None, columns: list[str], limit: int = 3) -> str:
    """The first ``limit`` rows of ``table`` (the ``columns`` it has) as an HTML table of escaped text."""
    if table is None or table.num_rows == 0:
        return "<p class='meta'>none in this run</p>"
    cols = [c for c in columns if c in table.column_names]
    rows = table.slice(0, limit).select(cols).to_pylist()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td><pre>{html.escape(str(r[c]))[:2000]}</pre></td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def chart(svg: str) -> str:
    """An SVG chart in its card (nothing for an empty chart)."""
    return f"<div class='chart'>{svg}</div>" if svg else ""


def cards(items: list[tuple[str, object]]) -> str:
    """A row of headline figures: (label, value) pairs."""
    return "<div class='cards'>" + "".join(f"<div class='card'><b>{html.escape(str(v))}</b><span>{html.escape(k)}</span></div>"
                                            for k, v in items) + "</div>"


def _heldout(m: Manifest) -> list[str]:
    """The run's headline: the held-out evaluation per benchmark and round, with intervals, and whether the
    change from before training to after the last round is outside the noise, in words."""
    h = m.heldout
    if not h or not h.get("rounds"):
        return []
    rounds = {r["round"]: r["benchmarks"] for r in h["rounds"]}
    order = list(h["benchmarks"])
    first, last = h["evaluated_rounds"][0], h["evaluated_rounds"][-1]
    conf = round(100 * h.get("confidence", 0.95))
    items: list[tuple[str, object]] = []
    for b in order:
        a, z = rounds[first][b]["metrics"]["pass@1"], rounds[last][b]["metrics"]["pass@1"]
        items += [(f"{b}: pass@1 before training", f"{100 * a['value']:.1f}%"),
                  (f"{b}: pass@1 after round {last}", f"{100 * z['value']:.1f}%")]
    out = [f"<h2>Held-out evaluation (recipe {html.escape(str(m.recipe or 'staged'))})</h2>", cards(items)]
    for b in order:
        ch = h["change"].get(b)
        if ch:
            color = "#1d232b" if ch["significant"] else "#5b6573"
            out.append(f"<p style='color:{color}'><b>{html.escape(b)}</b>: {html.escape(ch['words'])}</p>")
    series = {f"round {r}": [rounds[r][b]["metrics"]["pass@1"]["value"] for b in order] for r in h["evaluated_rounds"]}
    ivs = {f"round {r}": [(rounds[r][b]["metrics"]["pass@1"]["low"], rounds[r][b]["metrics"]["pass@1"]["high"])
                          for b in order] for r in h["evaluated_rounds"]}
    out.append("<div class='charts'>" + chart(grouped_bars(order, series, f"Held-out pass@1 per round ({conf}% intervals)",
                                                           intervals=ivs, colors=("#bab0ac", "#54a24b", "#4c78a8", "#f58518"))))
    for b in order:
        lv_a, lv_z = rounds[first][b].get("by_level"), rounds[last][b].get("by_level")
        if lv_a and lv_z:
            levels = [lv for lv in lv_a if lv in lv_z]
            out.append(chart(grouped_bars([f"level {lv}" for lv in levels],
                                          {f"round {first}": [lv_a[lv]["pass@1"] for lv in levels],
                                           f"round {last}": [lv_z[lv]["pass@1"] for lv in levels]},
                                          f"{b}: held-out pass@1 by ladder level")))
    out.append("</div>")
    rows = []
    for b, n in h["benchmarks"].items():
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in (
            b, n["source"], n["rows"], n["overlap_id"], n["overlap_text"], n["repeats"], n["evaluated"])) + "</tr>")
    out.append("<h4>Held-out problems</h4><table><tr><th>benchmark</th><th>source</th><th>rows (or drawn)</th>"
               "<th>same id as a training problem</th><th>same text as a training problem</th><th>repeats</th>"
               f"<th>evaluated</th></tr>{''.join(rows)}</table>"
               f"<p class='meta'>k = {h['k']} samples per problem; pass@1 = the mean over problems of the fraction of "
               f"samples verified correct, {conf}% Wilson intervals over problems. Problems that also occur in the "
               "training pool (same id or same normalised text) are excluded, and so are repeats. A change is called "
               "one only outside the noise: the exact sign test on the problems whose correct-sample count changed "
               f"(p < {1 - h.get('confidence', 0.95):.2f}); the interval of the change is a paired bootstrap over "
               "problems.</p>")
    return out


def _summary(m: Manifest) -> list[str]:
    """The training problems re-measured (secondary to the held-out evaluation): pass rate per round, per
    level before/after, the paired comparison in words, and the stage transitions."""
    rounds, mv = m.rounds, m.moved
    if not mv or len(rounds) < 2:
        return []
    ch = mv.get("change")
    out = ["<h2>The training problems, re-measured</h2>",
           *([f"<p class='meta'>{html.escape(ch['words'])} (the problems the student trained on: not a held-out "
              "measure)</p>"] if ch else []),
           cards([("problems", mv["problems"]), ("rounds of training", len(rounds) - 1),
                   ("mean pass rate, round 0", f"{mv['pass_rate_before']:.3f}"),
                   (f"mean pass rate, round {len(rounds) - 1}", f"{mv['pass_rate_after']:.3f}"),
                   ("problems improved", mv["improved"]), ("problems worsened", mv["worsened"])]),
           "<div class='charts'>",
           chart(bar_chart([f"round {r.round}" for r in rounds], [round(r.pass_rate_mean, 3) for r in rounds],
                             "Mean pass rate of the student, per round", color="#54a24b", fmt="{:.3f}"))]
    if mv.get("by_level"):
        levels = list(mv["by_level"])
        out.append(chart(grouped_bars([f"level {lv}" for lv in levels],
                                        {"round 0": [mv["by_level"][lv]["before"] for lv in levels],
                                         f"round {len(rounds) - 1}": [mv["by_level"][lv]["after"] for lv in levels]},
                                        "Pass rate by ladder level, first and last measurement")))
    out.append("</div>")
    trans = mv.get("transitions", {})
    if trans:
        out.append("<h4>Stage of each problem, round 0 -> last round</h4><table><tr><th>from -> to</th><th>problems</th></tr>"
                   + "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in trans.items()) + "</table>")
    return out


def _training(k: int, steps: dict[str, StepRecord]) -> str:
    """SFT loss and GRPO reward per step of a round, from the manifest."""
    charts = []
    losses = steps["sft"].notes.get("losses") if "sft" in steps else None
    if losses:
        charts.append(chart(line_chart(list(range(1, len(losses) + 1)), losses, f"Round {k}: SFT loss per step",
                                         xlabel="SFT step", ymax=None, color="#4c78a8")))
    rewards = steps["rl"].notes.get("rewards") if "rl" in steps else None
    if rewards:
        # trl logs step 1..N; the recorder (and the zero-reward chart) number the steps from 0.
        charts.append(chart(line_chart(list(range(len(rewards))), rewards,
                                         f"Round {k}: mean GRPO reward per step", xlabel="RL step", ymax=None,
                                         color="#f58518")))
    return "".join(charts)


def _steps_table(steps: dict[str, StepRecord]) -> str:
    rows = []
    order = ("measure", "plan", "evaluate", "stages", "bridge", "sft_data", "sft", "rl", "cft")
    for name, rec in sorted(steps.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        shown = {**rec.notes, **({"removed": rec.removed} if rec.removed else {})}
        notes = {x: shown[x] for x in sorted(shown) if x not in ("losses", "rewards")}
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{rec.seconds:.1f} s</td>"
                    f"<td>{html.escape(', '.join(rec.outputs))}</td>"
                    f"<td>{html.escape('; '.join(f'{x}: {v}' for x, v in notes.items()))}</td></tr>")
    return ("<table><tr><th>step</th><th>time</th><th>outputs</th><th>notes</th></tr>" + "".join(rows) + "</table>"
            if rows else "")


def page_head(command: str, created: str | None, versions: dict[str, str]) -> list[str]:
    """The opening of a report page: the document head and style, the title (the command) and a line with
    the creation time and package versions."""
    return [f"<!doctype html><html><head><meta charset='utf-8'><title>stagekit {html.escape(command)} report</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>stagekit {html.escape(command)}</h1>",
            f"<p class='meta'>{html.escape(str(created or ''))} · "
            + " · ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in versions.items()) + "</p>"]


def build_report(run_dir: str | os.PathLike[str]) -> str:
    """The report's HTML for a run directory."""
    run = RunDir(run_dir)
    m = run.manifest()
    cmd = m.command
    if cmd == "eval":
        raise InputError(f"{run_dir}: an evaluation directory: its report is stagekit.evaluate.report.write_eval_report")
    if not m.rounds:
        raise InputError(f"{run.path}: no finished `stagekit {cmd or 'plan'}` in this directory (interrupted?); re-run it "
                         "to finish, then build the report")

    def table(k: int, name: str) -> pa.Table | None:
        found = run.checked(m, k, name)
        return None if found is None else run.open_table(found).read_all()

    def head(k: int, name: str, columns: list[str], limit: int = 3) -> pa.Table | None:
        """The first ``limit`` rows of a table that may hold millions (a stage set), or None."""
        found = run.checked(m, k, name)
        if found is None:
            return None
        have = run.open_table(found).column_names
        for batch in run.open_table(found, columns=[c for c in columns if c in have], batch_rows=limit).batches():
            return pa.Table.from_batches([batch])
        return None

    out = page_head(cmd, m.created, m.versions)
    if m.problems:
        out.append(f"<p class='meta'>problems: {html.escape(str(m.problems.get('source')))} "
                   f"({m.problems.get('rows')} problems)</p>")
    if m.inputs:
        out.append("<p class='meta'>inputs: " + ", ".join(f"{html.escape(k)} (sha256 {v[:12]})" for k, v in m.inputs.items()) + "</p>")
    cfg = m.config
    out.append("<details><summary class='meta'>configuration</summary><p class='meta'>"
               + ", ".join(f"{html.escape(k)}={html.escape(str(v))}" for k, v in cfg.items() if k != "extra") + "</p></details>")
    out.extend(_heldout(m))
    out.extend(_summary(m))
    last = len(m.rounds) - 1
    for r in m.rounds:
        k = r.round
        stats, rollouts = run.checked(m, k, "stats"), run.checked(m, k, "rollouts")
        rows = r.rows
        title = f"Round {k}" + (" (final measurement)" if cmd == "run" and k == last and k > 0 else "")
        out.append(f"<h2>{title}</h2>")
        items = [("rollouts", rows.get("rollouts", 0)), ("problems", rows.get("stats", 0)), ("SFT", rows.get("sft", 0)),
                 ("of which Bridge", r.bridge), ("RL", rows.get("rl", 0)), ("dropped", rows.get("drop", 0)),
                 ("mean pass rate", f"{r.pass_rate_mean:.3f}")]
        if m.recipe not in (None, "staged") and "sft_set" in rows:
            items += [(f"SFT set ({m.recipe})", rows["sft_set"]), (f"RL set ({m.recipe})", rows.get("rl_set", 0))]
        for name, label in (("sft_train", "SFT examples"), ("rl_rollouts", "RL rollouts"), ("cft", "CFT records")):
            if name in rows:
                items.append((label, rows[name]))
        out.append(cards(items) + "<div class='charts'>")
        if stats is not None:
            out.append(chart(_pass_rate_chart(run.open_table(stats, columns=["n", "n_correct", "pass_rate"]).batches(), k)))
        sizes = [rows.get("sft", 0) - r.bridge, r.bridge, rows.get("rl", 0), rows.get("drop", 0)]
        out.append("<div class='chart'>" + bar_chart(["SFT (plain)", "SFT (Bridge)", "RL", "drop"], sizes,
                   f"Round {k}: stage set sizes", color=[_COLORS[c] for c in ("sft", "bridge", "rl", "drop")]) + "</div>")
        verdicts, wrong = _verdicts(run, rollouts) if rollouts is not None else (None, None)
        if verdicts is not None:
            labels = ["correct", "incorrect", "no_answer", "unparseable"]
            out.append("<div class='chart'>" + bar_chart(labels, [verdicts.get(s, 0) for s in labels],
                       f"Round {k}: verdicts of {sum(verdicts.values())} rollouts",
                       color=["#54a24b", "#e45756", "#bab0ac", "#b279a2"]) + "</div>")
        rl = table(k, "rl_rollouts")
        if rl is not None and rl.num_rows and "step" in rl.column_names:
            from stagekit.transforms import zero_reward_groups

            zero = zero_reward_groups(rl, by=("problem_id", "step"), include_all_correct=False)
            zc = Counter(zero["step"].to_pylist())
            per = rl.group_by(["problem_id", "step"]).aggregate([]).group_by(["step"]).aggregate([("problem_id", "count")])
            steps = sorted(per["step"].to_pylist())
            total = dict(zip(per["step"].to_pylist(), per["problem_id_count"].to_pylist(), strict=True))
            out.append("<div class='chart'>" + line_chart(steps, [zc.get(s, 0) / total[s] for s in steps],
                       f"Round {k}: fraction of zero-reward groups per RL step") + "</div>")
        out.append(_training(k, r.steps or {}))
        out.append("</div>")
        out.append("<h3>Examples</h3>")
        bridge = table(k, "bridge")
        cft = table(k, "cft")
        if bridge is not None or cft is not None:
            out.append("<h4>Bridge records (teacher prefix + verified student continuation)</h4>"
                       + examples_table(bridge, ["problem_id", "cut", "n_steps", "cut_pass_rate", "prompt", "target", "fallback"]))
            out.append("<h4>CFT records (diagnosis, repair, new trace)</h4>"
                       + examples_table(_one_per_kind(cft), ["problem_id", "kind", "critic", "error_step", "prompt", "response"]))
        shown = ["problem_id", "pass_rate", "stages", "prompt"]
        sft, rlset = head(k, "sft", shown), head(k, "rl", shown)
        run.checked(m, k, "drop")  # (checked like the others)
        out.append("<h4>SFT problems</h4>" + examples_table(sft, shown))
        out.append("<h4>RL problems</h4>" + examples_table(rlset, shown))
        if rollouts is not None:
            out.append("<h4>Incorrect rollouts</h4>" + examples_table(wrong, ["problem_id", "completion", "predicted", "answer"]))
        if r.steps:
            out.append("<h4>Steps</h4>" + _steps_table(r.steps))
    out.append("</body></html>")
    return "\n".join(out)


def _verdicts(run: RunDir, out: Any, examples: int = 3) -> tuple[dict[str, int] | None, pa.Table | None]:
    """Rollouts per verdict status and the first ``examples`` incorrect ones, read in batches (only the
    ``status`` column, then the example columns until the examples are found)."""
    names = run.open_table(out).column_names
    if "status" not in names:
        return None, None
    counts: Counter[str] = Counter()
    for batch in run.open_table(out, columns=["status"]).batches():
        vc = pc.value_counts(batch.column(0))
        counts.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)))
    found: list[pa.Table] = []
    have = 0
    if counts.get("incorrect"):
        cols = [c for c in ("problem_id", "completion", "predicted", "answer", "status") if c in names]
        for batch in run.open_table(out, columns=cols).batches():
            t = pa.Table.from_batches([batch])
            t = t.filter(pc.equal(t["status"], "incorrect"))
            found.append(t.slice(0, examples - have))
            have += found[-1].num_rows
            if have >= examples:
                break
    return dict(counts), pa.concat_tables(found, promote_options="permissive") if found else None


def _one_per_kind(table: pa.Table | None) -> pa.Table | None:
    """The first record of each kind (diagnosis, repair, new_trace), so the examples show all three."""
    if table is None or table.num_rows == 0 or "kind" not in table.column_names:
        return table
    kinds = table["kind"].to_pylist()
    first = [kinds.index(x) for x in dict.fromkeys(kinds)]
    return table.take(pa.array(first, pa.int64()))


def write_report(run_dir: str | os.PathLike[str]) -> Path:
    """(Re)build ``report.html`` in the run directory, atomically."""
    return atomic_write(Path(run_dir) / "report.html", build_report(run_dir)).path
