"""What every benchmark prints about the machine it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(dist: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """The repository's commit (`git describe --always --dirty`), or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def memory_gb() -> float:
    """Physical memory in GiB."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def loadavg() -> float:
    """The 1-minute load average (NaN where there is none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def basics() -> dict[str, Any]:
    """What every benchmark reports about the machine: CPU, cores, memory, OS, Python, date, commit, load."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(memory_gb(), 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "stagekit": version("stagekit"),
        "stagekit_commit": git_commit(),
        "loadavg_start": loadavg(),
    }


def describe(info: dict[str, Any], packages: tuple[str, ...] = ()) -> str:
    """One markdown line naming the machine (from ``basics()``, plus ``info[pkg]`` for each of ``packages``)."""
    parts = [
        f"{info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), {info['memory_gb']} GB",
        info["platform"],
        f"Python {info['python']}",
        f"stagekit {info['stagekit']} ({info['stagekit_commit']})",
        *(f"{p} {info[p]}" for p in packages if p in info),
        f"run {info['date_utc']}",
    ]
    load = f"1-min load average before / after: {info['loadavg_start']:.2f}"
    if "loadavg_end" in info:
        load += f" / {info['loadavg_end']:.2f}"
    return "Machine: " + " · ".join(parts) + " · " + load + "  "
