"""Scores of a cloud mask against a reference: confusion matrix and what follows from it.

Pixels are compared where both masks have data (0 clear, 1 cloud, 255 no data); cloud is the
positive class. A ratio whose denominator is zero is ``None`` (a clear image has no recall),
never a made-up 0 or 1. Two ways to summarise several images (:func:`summarize`):
*mean* over images (each image weighs the same; ``None`` values are left out of the mean) and
*pooled* (one confusion matrix summed over every pixel of every image).

Cell-level scores of the coarse stage: :func:`coarse_accuracy` (predicted 4-class cell grid
against the grid pooled from the reference mask) and :func:`s_dn` (the normalised adjacency of
Overcast and Cloudless cells in a predicted grid; 0 is the goal, see :mod:`training.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cascade.classes import CLOUD, CLOUDLESS, NODATA, OVERCAST

__all__ = [
    "RATES",
    "coarse_accuracy",
    "confusion",
    "rates",
    "s_dn",
    "scores",
    "summarize",
]

# The per-image statistics, in report order.
RATES = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "iou",
    "tpr",
    "tnr",
    "fpr",
    "fnr",
    "ppv",
    "npv",
    "fdr",
    "for",
    "balanced_accuracy",
    "prevalence",
    "lr_plus",
    "lr_minus",
)


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ValueError(
            f"a prediction and its reference must be 2-D masks of one shape; got {pred.shape} "
            f"and {truth.shape}"
        )


def confusion(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """``tp``, ``fp``, ``fn``, ``tn`` pixel counts where both masks have data."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    _check_pair(pred, truth)
    ok = (pred != NODATA) & (truth != NODATA)
    p, t = pred[ok] == CLOUD, truth[ok] == CLOUD
    return {
        "tp": int(np.count_nonzero(p & t)),
        "fp": int(np.count_nonzero(p & ~t)),
        "fn": int(np.count_nonzero(~p & t)),
        "tn": int(np.count_nonzero(~p & ~t)),
    }


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def rates(c: Mapping[str, int]) -> dict[str, float | None]:
    """Every statistic of :data:`RATES` from a confusion matrix (unrounded floats or ``None``).

    ``tpr`` = recall = TP / (TP + FN), ``tnr`` = TN / (TN + FP), ``ppv`` = precision,
    ``npv`` = TN / (TN + FN), ``fdr`` = 1 - PPV, ``for`` = FN / (FN + TN), ``prevalence`` =
    (TP + FN) / N, ``balanced_accuracy`` = (TPR + TNR) / 2, ``lr_plus`` = TPR / FPR,
    ``lr_minus`` = FNR / TNR.
    """
    tp, fp, fn, tn = (int(c[k]) for k in ("tp", "fp", "fn", "tn"))
    n = tp + fp + fn + tn
    tpr, tnr = _div(tp, tp + fn), _div(tn, tn + fp)
    fpr, fnr = _div(fp, fp + tn), _div(fn, fn + tp)
    ppv, npv = _div(tp, tp + fp), _div(tn, tn + fn)
    return {
        "accuracy": _div(tp + tn, n),
        "precision": ppv,
        "recall": tpr,
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "iou": _div(tp, tp + fp + fn),
        "tpr": tpr,
        "tnr": tnr,
        "fpr": fpr,
        "fnr": fnr,
        "ppv": ppv,
        "npv": npv,
        "fdr": _div(fp, fp + tp),
        "for": _div(fn, fn + tn),
        "balanced_accuracy": (tpr + tnr) / 2 if tpr is not None and tnr is not None else None,
        "prevalence": _div(tp + fn, n),
        "lr_plus": _div(tpr, fpr) if tpr is not None and fpr is not None else None,
        "lr_minus": _div(fnr, tnr) if fnr is not None and tnr is not None else None,
    }


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Confusion counts, pixel count and every rate (rounded to 4 decimals) of one image."""
    c = confusion(pred, truth)
    return {
        **c,
        "pixels": sum(c.values()),
        **{k: _round(v) for k, v in rates(c).items()},
    }


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean over images and pooled scores of rows made by :func:`scores`."""
    rows = list(rows)
    if not rows:
        raise ValueError("summarize needs at least one scored image; got none")
    pooled_c = {k: sum(int(r[k]) for r in rows) for k in ("tp", "fp", "fn", "tn")}
    mean: dict[str, float | None] = {}
    for k in RATES:
        vals = [float(r[k]) for r in rows if r.get(k) is not None]
        mean[k] = _round(float(np.mean(vals))) if vals else None
    return {
        "images": len(rows),
        "mean": mean,
        "pooled": {**pooled_c, **{k: _round(v) for k, v in rates(pooled_c).items()}},
    }


def coarse_accuracy(pred_cells: np.ndarray, truth_cells: np.ndarray) -> float:
    """Fraction of grid cells whose predicted class is the reference class."""
    pred_cells, truth_cells = np.asarray(pred_cells), np.asarray(truth_cells)
    if pred_cells.shape != truth_cells.shape or pred_cells.size == 0:
        raise ValueError(
            f"cell grids must have one non-empty shape; got {pred_cells.shape} and "
            f"{truth_cells.shape}"
        )
    return float(np.mean(pred_cells == truth_cells))


def s_dn(cells: np.ndarray, pair: Sequence[int] = (OVERCAST, CLOUDLESS)) -> float | None:
    """Normalised adjacency ``S_dn`` of a class pair in a cell grid (``None`` below 2 x 2)."""
    from training.metrics import normalized_adjacency

    cells = np.asarray(cells)
    if cells.ndim != 2:
        raise ValueError(f"a cell grid is 2-D (rows, cols); got shape {cells.shape}")
    if min(cells.shape) < 2:
        return None
    onehot = np.eye(4, dtype=np.float32)[cells.astype(np.intp)]
    return round(float(normalized_adjacency(onehot, tuple(pair))), 5)
