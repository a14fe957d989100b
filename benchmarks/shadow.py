"""Cloud shadow in the accuracy suite: per-class scores of every method on the real images
with shadow labels (ukis Landsat 7 and 5: reference labels; the L8 Biome val patches: human
labels), and their section of the report.

Three targets per image and method, each a binary confusion matrix over the pixels where both
the mask and the label have data: ``cloud`` (cloud against the rest, shadow included),
``shadow`` (cloud shadow against the rest) and ``unusable`` (cloud or shadow against clear
ground: the usable-ground mask most pipelines want). A method without a shadow class (the
cascade with a cloud-only model, s2cloudless) scores shadow recall 0 and its usable mask
counts shadow as usable: that is what its user gets.

Some L8 Biome val patches hold cloud and no shadow label: their scenes were labelled for cloud
alone (Urban_03_0619's clouds cast plain shadows, labelled clear), so every shadow a method
finds there scores as a false positive. The section pools the issue's set as it is
(:data:`SHADOW_POOLED`) and, beside it, the images annotated for shadow only
(:data:`SHADOW_POOLED_ANNOTATED`: labels with shadow, or without cloud to cast one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.report_format import _METHOD, _table
from benchmarks.stats import scores, summarize
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from training.mix import annotated_for_shadow

__all__ = [
    "SHADOW_GROUPS",
    "SHADOW_POOLED",
    "SHADOW_POOLED_ANNOTATED",
    "TARGETS",
    "shadow_rows",
    "shadow_section",
    "shadow_summaries",
    "target_mask",
]

SHADOW_GROUPS = ("ukis landsat7", "ukis landsat5", "L8 Biome val")
SHADOW_POOLED = "ukis L7 + L5 + Biome val (pooled)"
SHADOW_POOLED_ANNOTATED = "the images annotated for shadow (pooled)"
TARGETS = ("cloud", "shadow", "unusable")


def target_mask(mask: np.ndarray, target: str) -> np.ndarray:
    """A 0 clear / 1 cloud / 2 shadow / 255 mask as the binary mask of ``target`` (1 where it
    is, 0 elsewhere, 255 kept), the form :func:`benchmarks.stats.scores` takes."""
    positive = {"cloud": (CLOUD,), "shadow": (SHADOW,), "unusable": (CLOUD, SHADOW)}[target]
    out = np.where(np.isin(mask, positive), CLOUD, CLEAR).astype(np.uint8)
    out[mask == NODATA] = NODATA
    return out


def shadow_rows(
    case: dict[str, Any], masks: dict[str, np.ndarray], pair_models: set[str]
) -> list[dict[str, Any]]:
    """Rows of every mask of a case (``masks``: ``"pair/router"`` or a peer's name) against its
    shadow labels (``case["truth_shadow"]``), one per target."""
    truth = case["truth_shadow"]
    annotated = annotated_for_shadow(truth)
    rows = []
    for key, mask in masks.items():
        model, _, router = key.partition("/")
        if router and model not in pair_models:
            continue
        for target in TARGETS:
            rows.append(
                {
                    "group": case["group"],
                    "case": case["case"],
                    "model": model,
                    "method": router or model,
                    "target": target,
                    "annotated": annotated,
                    **scores(target_mask(mask, target), target_mask(truth, target)),
                }
            )
    return rows


def shadow_summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, method, target): pooled over the images of :data:`SHADOW_GROUPS`
    (``group`` :data:`SHADOW_POOLED`) and over those of them annotated for shadow
    (:data:`SHADOW_POOLED_ANNOTATED`), when a method ran on every group that has rows."""
    groups = {r["group"] for r in rows}
    out = []
    for model, method, target in dict.fromkeys(
        (r["model"], r["method"], r["target"]) for r in rows
    ):
        sel = [r for r in rows if (r["model"], r["method"], r["target"]) == (model, method, target)]
        if {r["group"] for r in sel} != groups:
            continue
        key = {"model": model, "method": method, "target": target}
        out.append({"group": SHADOW_POOLED, **key} | summarize(sel))
        annotated = [r for r in sel if r.get("annotated", True)]
        if annotated:
            out.append({"group": SHADOW_POOLED_ANNOTATED, **key} | summarize(annotated))
    return out


def _section_rows(summaries: list[dict[str, Any]], group: str) -> list[list[Any]]:
    by = {
        (s["model"], s["method"], s["target"]): s["pooled"]
        for s in summaries
        if s["group"] == group
    }
    rows = []
    for model, method in dict.fromkeys((m, k) for m, k, _ in by):
        cl, sh, un = (by.get((model, method, t)) for t in TARGETS)
        if sh is None or cl is None or un is None:
            continue
        is_model = method in ("cascade", "all", "none")
        rows.append(
            [
                model if is_model else "-",
                _METHOD[method],
                sh["precision"],
                sh["recall"],
                sh["f1"],
                sh["iou"],
                cl["f1"],
                cl["accuracy"],
                un["accuracy"],
                un["f1"],
            ]
        )
    return rows


_HEADER = [
    "model",
    "method",
    "shadow precision",
    "shadow recall",
    "shadow F1",
    "shadow IoU",
    "cloud F1",
    "cloud accuracy",
    "usable accuracy",
    "unusable F1",
]


def shadow_section(r: dict[str, Any]) -> list[str]:
    """The report's cloud-shadow tables (empty for results without shadow rows)."""
    summaries = r.get("shadow_summaries") or []
    if not summaries:
        return []
    images = {s["group"]: s["images"] for s in summaries}
    out = [
        "",
        f"### Cloud shadow and usable ground ({SHADOW_POOLED}, {images[SHADOW_POOLED]} images)",
        "",
        "Every method's mask against the shadow labels of the ukis Landsat 7 and 5 images and the "
        "L8 Biome val patches, pixels pooled: shadow against the rest (precision, recall, F1, "
        "IoU), cloud against the rest, and the usable-ground mask (cloud or shadow against "
        "clear ground). A method without a shadow class scores shadow 0 and counts shadow as "
        "usable ground.",
        "",
        _table(_HEADER, _section_rows(summaries, SHADOW_POOLED)),
    ]
    if SHADOW_POOLED_ANNOTATED in images:
        out += [
            "",
            f"The same, pooled over the {images[SHADOW_POOLED_ANNOTATED]} images annotated for "
            "shadow only (labels with shadow, or without cloud to cast one): Biome val patches "
            "with cloud and no shadow label come from scenes labelled for cloud alone (their "
            "shadows carry the clear label), so the table above counts every shadow found there "
            "as a false positive.",
            "",
            _table(_HEADER, _section_rows(summaries, SHADOW_POOLED_ANNOTATED)),
        ]
    return out
