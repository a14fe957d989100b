"""Provenance: the one place that says what a run was, for its report and its mask's tags.

The run report (JSON beside the mask), the GeoTIFF tags of every output and the batch's
resume check all come from here, so they cannot drift apart: a batch skips a scene only when
the ``inputs``, ``model`` and ``config`` tags this module would write now equal the ones its
existing mask carries (:func:`identity_differences`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cascade import __version__
from cascade.classes import CELL_CLASS_NAMES, CLEAR, CLOUD, NODATA, SHADOW
from cascade.engine.config import EngineConfig
from cascade.geometry import SceneGeometry

__all__ = [
    "IDENTITY_KEYS",
    "config_record",
    "identity_differences",
    "identity_tags",
    "mask_classes",
    "mask_tags",
    "run_report",
]

# The tags that say which inputs, model and settings made a mask.
IDENTITY_KEYS = ("inputs", "model", "config")
MASK_CLASSES = "0 clear, 1 cloud, 255 no data"
MASK_CLASSES_SHADOW = "0 clear, 1 cloud, 2 cloud shadow, 255 no data"
USABLE_CLASSES = "0 unusable (cloud or cloud shadow), 1 usable (clear), 255 no data"


def mask_classes(shadow: object) -> str:
    """What the mask's codes mean (its ``classes`` tag): with cloud shadow (``shadow``
    truthy) or without."""
    return MASK_CLASSES_SHADOW if shadow else MASK_CLASSES


def config_record(
    config: EngineConfig, threshold: float, resampling: str | None = None
) -> dict[str, Any]:
    """The configuration as recorded: the config, the threshold used and, for a scene read
    from files, how coarser bands were resampled."""
    record = config.to_dict() | {"threshold_used": threshold}
    if resampling is not None:
        record["resampling"] = resampling
    return record


def run_report(
    g: SceneGeometry,
    model: Mapping[str, Any],
    config: Mapping[str, Any],
    cell_classes: np.ndarray,
    routed: np.ndarray,
    has_data: np.ndarray,
    mask: np.ndarray,
    timings: Mapping[str, float],
    routed_by: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The run report: versions, model, configuration, routing counts, pixels, timings.

    ``routed_by``: the cells the router routed and each routing rule added, by name.
    """
    counts = np.bincount(cell_classes.ravel(), minlength=4)
    n_routed = int(routed.sum())
    report: dict[str, Any] = {
        "cloud_cascade": __version__,
        "geometry": g.to_dict(),
        "model": dict(model),
        "config": dict(config),
        "cells_per_class": {n: int(c) for n, c in zip(CELL_CLASS_NAMES, counts, strict=True)},
        "cells": g.n_cells,
        "cells_with_data": int(has_data.sum()),
        "patches_run": n_routed,
        "routed_by": dict(routed_by or {"router": n_routed}),
        "routed_fraction": n_routed / g.n_cells,
        "pixels": {
            "clear": int((mask == CLEAR).sum()),
            "cloud": int((mask == CLOUD).sum()),
            "shadow": int((mask == SHADOW).sum()),
            "nodata": int((mask == NODATA).sum()),
        },
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    # The patch baseline would run the fine stage on every cell with data, at the per-patch
    # cost measured here, and everything else the same: an estimate, not a measurement
    # (the engine benchmark suite measures both routers side by side).
    if n_routed:
        total, fine = timings["total"], timings["fine"]
        per_patch = fine / n_routed
        all_estimate = total - fine + per_patch * int(has_data.sum())
        report["speedup_vs_all_estimate"] = round(all_estimate / total, 3)
        report["estimated_all_s"] = round(all_estimate, 3)
        report["fine_s_per_patch"] = round(per_patch, 4)
    else:
        report["speedup_vs_all_estimate"] = None
    return report


def identity_tags(
    inputs: Sequence[str | Path], model: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``inputs``, ``model`` and ``config`` tags, as their JSON reads back."""
    tags = {"inputs": [str(p) for p in inputs], "model": dict(model), "config": dict(config)}
    return dict(json.loads(json.dumps(tags)))


def mask_tags(report: Mapping[str, Any], inputs: Sequence[str | Path]) -> dict[str, Any]:
    """The GeoTIFF tags of a run's outputs, from its report and the files it read."""
    identity = identity_tags(inputs, report["model"], report["config"])
    return {
        "cloud_cascade_version": __version__,
        "model": identity["model"],
        "config": identity["config"],
        "routing": {
            "cells_per_class": report["cells_per_class"],
            "patches_run": report["patches_run"],
            "routed_by": report.get("routed_by"),
            "cells": report["cells"],
        },
        "coarse_input": report.get("coarse_input"),
        "inputs": identity["inputs"],
        "classes": report.get("mask_classes", MASK_CLASSES),
    }


def identity_differences(tags: Mapping[str, str], expected: Mapping[str, Any]) -> list[str]:
    """Which identity tags of a written mask differ from ``expected`` (empty: the same run).

    A model pair's identity is its content, wherever its folder is: its ``name`` is ignored.
    """
    differs = []
    for key in IDENTITY_KEYS:
        want = expected[key]
        try:
            got = json.loads(tags[key])
        except (KeyError, json.JSONDecodeError):
            differs.append(f"{key} (no cloud-cascade tag)")
            continue
        if key == "model":
            got = {k: v for k, v in got.items() if k != "name"} if isinstance(got, dict) else got
            want = {k: v for k, v in want.items() if k != "name"}
        if got != want:
            differs.append(key)
    return differs
