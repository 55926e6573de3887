"""The HTML report of a run directory: self-contained (inline SVG charts, no external files)."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.pipeline import RunDir

__all__ = ["build_report", "write_report"]

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
"""

_COLORS = {"sft": "#4c78a8", "bridge": "#9ecae9", "rl": "#f58518", "drop": "#bab0ac"}


def _bar_chart(labels: list[str], values: list[float], title: str, *, color: str | list[str] = "#4c78a8",
               width: int = 520, height: int = 260, fmt: str = "{:g}") -> str:
    """An SVG bar chart with value labels."""
    n = max(len(values), 1)
    top = max([float(v) for v in values] + [1.0])
    left, bottom, pad = 40, 48, 24
    bw = (width - left - pad) / n
    colors = color if isinstance(color, list) else [color] * n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<title>{html.escape(title)}</title>',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">{html.escape(title)}</text>',
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


def _line_chart(xs: list[float], ys: list[float], title: str, *, width: int = 520, height: int = 260) -> str:
    left, bottom, pad = 44, 40, 24
    if not xs:
        return ""
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    sx = lambda x: left + (width - left - pad) * (x - x0) / (x1 - x0)  # noqa: E731
    sy = lambda y: height - bottom - (height - bottom - 30) * y  # noqa: E731
    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<title>{html.escape(title)}</title>'
            f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">{html.escape(title)}</text>'
            f'<line x1="{left}" y1="{sy(0)}" x2="{width - pad}" y2="{sy(0)}" stroke="#888"/>'
            f'<line x1="{left}" y1="{sy(1)}" x2="{width - pad}" y2="{sy(1)}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{sy(1) + 4}" text-anchor="end" font-size="11">1</text>'
            f'<text x="{left - 6}" y="{sy(0) + 4}" text-anchor="end" font-size="11">0</text>'
            f'<polyline points="{pts}" fill="none" stroke="#e45756" stroke-width="2"/>'
            + "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#e45756"/>' for x, y in zip(xs, ys, strict=True))
            + f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="11">RL step</text></svg>')


def _pass_rate_chart(stats: pa.Table, round_: int) -> str:
    rates = stats["pass_rate"].to_pylist()
    ns = set(stats["n"].to_pylist())
    if len(ns) == 1 and next(iter(ns)) <= 16:
        n = next(iter(ns))
        counts = Counter(round(r * n) for r in rates)
        labels = [f"{c}/{n}" for c in range(n + 1)]
        values = [counts.get(c, 0) for c in range(n + 1)]
    else:
        from stagekit.pipeline import histogram

        values = histogram(rates, 10)
        labels = [f"{i / 10:.1f}" for i in range(10)]
    return _bar_chart(labels, values, f"Round {round_}: problems by pass rate")


def _examples(table: pa.Table | None, columns: list[str], limit: int = 3) -> str:
    if table is None or table.num_rows == 0:
        return "<p class='meta'>none in this run</p>"
    cols = [c for c in columns if c in table.column_names]
    rows = table.slice(0, limit).select(cols).to_pylist()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td><pre>{html.escape(str(r[c]))[:2000]}</pre></td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def build_report(run_dir: str | os.PathLike[str]) -> str:
    """The report's HTML for a run directory."""
    run = RunDir(run_dir)
    m = run.manifest()
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>stagekit {html.escape(m.get('command', ''))} report</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>stagekit {html.escape(m.get('command', ''))}</h1>",
           f"<p class='meta'>{html.escape(str(m.get('created', '')))} · "
           + " · ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in m.get("versions", {}).items()) + "</p>",
           "<p class='meta'>inputs: " + ", ".join(f"{html.escape(k)} (sha256 {v[:12]})" for k, v in m.get("inputs", {}).items()) + "</p>"]
    cfg = m.get("config", {})
    out.append("<p class='meta'>config: " + ", ".join(f"{html.escape(k)}={html.escape(str(v))}" for k, v in cfg.items() if k != "extra") + "</p>")
    for r in m.get("rounds", []):
        k = r["round"]
        stats, rollouts = run.read_table(k, "stats"), run.read_table(k, "rollouts")
        rows = r.get("rows", {})
        out.append(f"<h2>Round {k}</h2><div class='cards'>")
        for label, value in (("rollouts", rows.get("rollouts", 0)), ("problems", rows.get("stats", 0)),
                             ("SFT", rows.get("sft", 0)), ("of which Bridge", r.get("bridge", 0)),
                             ("RL", rows.get("rl", 0)), ("dropped", rows.get("drop", 0)),
                             ("mean pass rate", f"{r.get('pass_rate_mean', 0):.3f}")):
            out.append(f"<div class='card'><b>{value}</b><span>{label}</span></div>")
        out.append("</div><div class='charts'>")
        if stats is not None and stats.num_rows:
            out.append(f"<div class='chart'>{_pass_rate_chart(stats, k)}</div>")
        sizes = [rows.get("sft", 0) - r.get("bridge", 0), r.get("bridge", 0), rows.get("rl", 0), rows.get("drop", 0)]
        out.append("<div class='chart'>" + _bar_chart(["SFT (plain)", "SFT (Bridge)", "RL", "drop"], sizes,
                   f"Round {k}: stage set sizes", color=[_COLORS[c] for c in ("sft", "bridge", "rl", "drop")]) + "</div>")
        if rollouts is not None and "status" in rollouts.column_names:
            counts = Counter(rollouts["status"].to_pylist())
            labels = ["correct", "incorrect", "no_answer", "unparseable"]
            out.append("<div class='chart'>" + _bar_chart(labels, [counts.get(s, 0) for s in labels],
                       f"Round {k}: verdicts of {rollouts.num_rows} rollouts",
                       color=["#54a24b", "#e45756", "#bab0ac", "#b279a2"]) + "</div>")
        rl = run.read_table(k, "rl_rollouts")
        if rl is not None and rl.num_rows and "step" in rl.column_names:
            from stagekit.transforms import zero_reward_groups

            zero = zero_reward_groups(rl, by=("problem_id", "step"), include_all_correct=False)
            zc = Counter(zero["step"].to_pylist())
            per = rl.group_by(["problem_id", "step"]).aggregate([]).group_by(["step"]).aggregate([("problem_id", "count")])
            steps = sorted(per["step"].to_pylist())
            total = dict(zip(per["step"].to_pylist(), per["problem_id_count"].to_pylist(), strict=True))
            out.append("<div class='chart'>" + _line_chart(steps, [zc.get(s, 0) / total[s] for s in steps],
                       f"Round {k}: fraction of zero-reward groups per RL step") + "</div>")
        out.append("</div>")
        out.append("<h3>Examples</h3>")
        bridge = run.read_table(k, "bridge")
        cft = run.read_table(k, "cft")
        if bridge is not None or cft is not None:
            out.append("<h4>Bridge records</h4>" + _examples(bridge, ["problem_id", "cut", "cut_pass_rate", "target", "fallback"]))
            out.append("<h4>CFT records</h4>" + _examples(cft, ["problem_id", "kind", "error_step", "response"]))
        sft, rlset = run.read_table(k, "sft"), run.read_table(k, "rl")
        out.append("<h4>SFT problems</h4>" + _examples(sft, ["problem_id", "pass_rate", "stages", "prompt"]))
        out.append("<h4>RL problems</h4>" + _examples(rlset, ["problem_id", "pass_rate", "stages", "prompt"]))
        if rollouts is not None:
            wrong = rollouts.filter(pc.equal(rollouts["status"], "incorrect")) if "status" in rollouts.column_names else None
            out.append("<h4>Incorrect rollouts</h4>" + _examples(wrong, ["problem_id", "predicted", "answer"]))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(run_dir: str | os.PathLike[str]) -> Path:
    """(Re)build ``report.html`` in the run directory, atomically."""
    import tempfile

    path = Path(run_dir) / "report.html"
    text = build_report(run_dir)
    fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
