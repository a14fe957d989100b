"""Formatting shared by the report's sections: tables, numbers, sources."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.suite import Suite


def _load(suite: Suite, name: str) -> dict[str, Any] | None:
    path = suite.results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_f(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def _seconds(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s"


def _source(suite: Suite, name: str) -> str:
    rel = f"benchmarks/results/{suite.profile.name}/{name}.json"
    return f"Source: [`{rel}`](../{rel})."


_METHOD = {
    "cascade": "cascade",
    "all": "patch baseline (all)",
    "none": "coarse only (none)",
    "s2cloudless": "s2cloudless",
    "ukis-csmask 4b": "ukis-csmask, 4-band model",
    "ukis-csmask 6b": "ukis-csmask, 6-band model",
}
