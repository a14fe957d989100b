"""Helpers shared by the benchmarks: machine description, timing, result files."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cascade.io.files import atomic_output

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_PACKAGES = (
    "numpy",
    "numba",
    "llvmlite",
    "scikit-image",
    "tensorflow",
    "keras",
    "rasterio",
    "s2cloudless",
    "lightgbm",
)


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, Python and package versions of this run."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gib = round(mem_kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        mem_gib = None
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        cascade_version = importlib.metadata.version("cloud-cascade")
    except importlib.metadata.PackageNotFoundError:
        cascade_version = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cloud_cascade": cascade_version,
        "packages": versions,
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bytes_read() -> int | None:
    """Bytes this process has read from files so far (Linux ``/proc/self/io`` ``rchar``:
    every read call, served from the page cache or the disk), or None where unknown."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def time_call(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Wall times of ``repeats`` calls of ``fn`` and the last call's result."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def summarize(times: list[float]) -> dict[str, Any]:
    """Median, min and all times in seconds, rounded to the millisecond."""
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "times_s": [round(t, 4) for t in times],
    }


def write_results(
    name: str, payload: dict[str, Any], command: str, folder: Path = RESULTS_DIR
) -> Path:
    """Write ``<folder>/<name>.json`` (default ``benchmarks/results``) atomically with date,
    command and machine."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(),
        **payload,
    }
    path = folder / f"{name}.json"
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return path
