"""Numpy metrics and references of the training losses: no TensorFlow here.

The adjacency score ``S_d`` / ``S_dn`` of a cell grid (:func:`adjacency_count`,
:func:`normalized_adjacency`), the numpy reference of the weighted cross entropy, and the
cloud-class scores of a mask (:func:`pixel_metrics`). :mod:`training.losses` builds the Keras
losses on these and documents the equations; the benchmarks use them without loading
TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Literal, TypedDict, cast, get_args

import numpy as np

from cascade.classes import (
    CELL_CLASS_NAMES,
    CLEAR,
    CLOUD,
    CLOUDLESS,
    NO_DATA,
    NODATA,
    OVERCAST,
    PARTLY_CLOUDY,
)
from cascade.errors import InputArrayError, LossConfigError

__all__ = [
    "ADJACENCY_MODES",
    "CLIP_MIN",
    "DEFAULT_PAIR_WEIGHTS",
    "NO_DATA_PAIR_WEIGHTS",
    "PAIR_WEIGHT_SETS",
    "PLACEMENTS",
    "AdjacencyMode",
    "PixelMetrics",
    "adjacency_count",
    "adjacency_kernels",
    "max_adjacency_count",
    "normalized_adjacency",
    "pixel_metrics",
    "weighted_cross_entropy_numpy",
]

N_CLASSES: Final = len(CELL_CLASS_NAMES)
CLIP_MIN: Final = 1e-7
"""Predictions are clipped to ``[CLIP_MIN, 1]`` before the logarithm."""
DEFAULT_EPSILON: Final = 1e-3
"""The paper's margin in the relaxed score ``ReLU(conv - (1 + epsilon))``."""

AdjacencyMode = Literal["soft", "literal", "ste"]
ADJACENCY_MODES: Final[tuple[str, ...]] = get_args(AdjacencyMode)

Pair = tuple[int, int]

A_MAX: Final = 4  # the paper's A_max: adjacencies of one pair in a 2x2 filter area, at most

DEFAULT_PAIR_WEIGHTS: Final[Mapping[Pair, float]] = MappingProxyType(
    {
        (OVERCAST, CLOUDLESS): 0.75,
        (OVERCAST, PARTLY_CLOUDY): 0.125,
        (CLOUDLESS, PARTLY_CLOUDY): 0.125,
    }
)
"""Pair weights ``w_(A,B)`` of :func:`adjacency_loss` when none are given: the paper's (Section
V-D: Overcast/Cloudless 0.75, Overcast/Partly Cloudy and Cloudless/Partly Cloudy 0.125)."""

NO_DATA_PAIR_WEIGHTS: Final[Mapping[Pair, float]] = MappingProxyType(
    {
        (OVERCAST, CLOUDLESS): 0.75,
        (OVERCAST, NO_DATA): 0.125,
        (CLOUDLESS, NO_DATA): 0.125,
    }
)
"""Our earlier reading, written before the paper's text was at hand (the 0.125 pairs with No
Data); the shipped pairs' adjacency stage used it, so recipes can still ask for it."""

PAIR_WEIGHT_SETS: Final[Mapping[str, Mapping[Pair, float]]] = MappingProxyType(
    {"paper": DEFAULT_PAIR_WEIGHTS, "no-data": NO_DATA_PAIR_WEIGHTS}
)
"""The pair weights a recipe names (``[coarse] adjacency_pairs``)."""

_WINDOW_CELLS: Final = ((0, 0), (0, 1), (1, 0), (1, 1))
PLACEMENTS: Final[tuple[tuple[tuple[int, int], tuple[int, int]], ...]] = tuple(
    (a, b) for a in _WINDOW_CELLS for b in _WINDOW_CELLS if a != b
)
"""The 12 ordered placements ``((row_A, col_A), (row_B, col_B))`` in a 2x2 window.

Kernel ``n`` has a 1 at ``PLACEMENTS[n][0]`` of channel A and a 1 at ``PLACEMENTS[n][1]`` of
channel B: the 4 x 3 placements are the horizontal, vertical and both diagonal neighbours, each
with A first and with B first.
"""


# --------------------------------------------------------------------------- validation


def _class_label(k: int) -> str:
    return f"{k} ({CELL_CLASS_NAMES[k]})"


def _per_class_vector(name: str, values: Sequence[float], *, positive: bool) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LossConfigError(
            f"{name} must be {N_CLASSES} numbers, one per class {CELL_CLASS_NAMES}; got {values!r}"
        ) from exc
    if arr.shape != (N_CLASSES,):
        raise LossConfigError(
            f"{name} must have one value per class {CELL_CLASS_NAMES} (length {N_CLASSES}); "
            f"got {values!r} of shape {arr.shape}"
        )
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))
    if bad.any():
        need = "> 0" if positive else ">= 0"
        raise LossConfigError(
            f"{name} must be finite and {need} for every class; got {values!r} "
            f"(bad at class {_class_label(int(np.flatnonzero(bad)[0]))})"
        )
    return arr


def _check_scalar(name: str, value: float, *, low: float, high: float | None = None) -> float:
    v = float(value)
    ok = math.isfinite(v) and v >= low and (high is None or v < high)
    if not ok:
        span = f">= {low}" if high is None else f"in [{low}, {high})"
        raise LossConfigError(f"{name} must be a finite number {span}; got {value!r}")
    return v


def _check_pair(pair: Sequence[int], name: str = "pair") -> Pair:
    try:
        a, b = (int(k) for k in pair)
    except (TypeError, ValueError) as exc:
        raise LossConfigError(
            f"{name} must be two class indices (A, B), e.g. ({OVERCAST}, {CLOUDLESS}) for "
            f"(overcast, cloudless); got {pair!r}"
        ) from exc
    if not (0 <= a < N_CLASSES and 0 <= b < N_CLASSES) or a == b:
        raise LossConfigError(
            f"{name} must be two different class indices in 0..{N_CLASSES - 1} "
            f"{CELL_CLASS_NAMES}; got {pair!r}"
        )
    return a, b


def _check_mode(mode: str) -> AdjacencyMode:
    if mode not in ADJACENCY_MODES:
        raise LossConfigError(f"unknown mode {mode!r}; valid modes are {ADJACENCY_MODES}")
    return cast(AdjacencyMode, mode)


def _check_pair_weights(pair_weights: Mapping[Pair, float] | None) -> dict[Pair, float]:
    """Validated weights keyed by sorted pairs: (A, B) and (B, A) score the same."""
    if pair_weights is None:
        pair_weights = DEFAULT_PAIR_WEIGHTS
    if not isinstance(pair_weights, Mapping) or not pair_weights:
        raise LossConfigError(
            "pair_weights must be a non-empty mapping {(A, B): weight}, e.g. "
            f"{{({OVERCAST}, {CLOUDLESS}): 1.0}}; got {pair_weights!r}"
        )
    out: dict[Pair, float] = {}
    for pair, weight in pair_weights.items():
        a, b = _check_pair(pair, name="pair_weights key")
        key = (min(a, b), max(a, b))
        if key in out:
            raise LossConfigError(
                f"pair_weights names the pair {key} twice (as {pair!r} and its reverse); the "
                "adjacency score of a pair already counts both orders, so give it once"
            )
        out[key] = _check_scalar(f"pair_weights[{pair!r}]", weight, low=0.0)
    return out


def _onehot_batch(onehot: np.ndarray, pair: Pair) -> np.ndarray:
    """``onehot`` as a boolean ``(batch, H, W, C)`` array, after checking it is one-hot."""
    arr = np.asarray(onehot)
    if arr.ndim == 3:
        arr = arr[np.newaxis]
    if arr.ndim != 4:
        raise InputArrayError(
            f"onehot must be (H, W, C) or (batch, H, W, C); got shape {np.shape(onehot)}"
        )
    if arr.shape[1] < 2 or arr.shape[2] < 2:
        raise InputArrayError(
            f"onehot needs a grid of at least 2 x 2 cells for 2x2 windows; got shape {arr.shape}"
        )
    if arr.shape[3] <= max(pair):
        raise InputArrayError(
            f"onehot has {arr.shape[3]} class channels but pair {pair} needs channel {max(pair)}"
        )
    binary = (arr == 0) | (arr == 1)
    if not binary.all() or not (arr.sum(axis=-1) == 1).all():
        raise InputArrayError(
            "onehot must be exactly one-hot (0/1 values, one 1 per cell); "
            "use np.eye(C)[labels] or argmax the probabilities first"
        )
    return arr == 1


def weighted_cross_entropy_numpy(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    alpha: Sequence[float],
    beta: Sequence[float],
    form: str = "eq2",
) -> float:
    """Numpy reference of the weighted cross entropies, written term by term, averaged over
    the ``N`` cells of all images; ``y_true`` and ``y_pred`` are ``(..., 4)``.

    ``form="eq2"`` (the paper's Eq. 2, :class:`training.losses.WeightedCrossEntropy`):
    ``-sum_k alpha_k [y_k log p_k + beta_k (1 - y_k) log(1 - p_k)]`` with ``p`` clipped to
    ``[1e-7, 1 - 1e-7]``; ``"weighted-categorical"``
    (:class:`training.losses.WeightedCategoricalCrossEntropy`):
    ``-sum_k alpha_k y_k log(clip(p_k, 1e-7, 1) ** beta_k)``.
    """
    a = _per_class_vector("alpha", alpha, positive=False)
    b = _per_class_vector("beta", beta, positive=True)
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if y.shape != p.shape or p.shape[-1:] != (N_CLASSES,):
        raise InputArrayError(
            f"y_true and y_pred must both be (..., {N_CLASSES}); got {y.shape} and {p.shape}"
        )
    if form == "eq2":
        p = np.clip(p, CLIP_MIN, 1.0 - CLIP_MIN)
        per_cell = np.zeros(p.shape[:-1])
        for k in range(N_CLASSES):
            positive = y[..., k] * np.log(p[..., k])
            negative = b[k] * (1.0 - y[..., k]) * np.log(1.0 - p[..., k])
            per_cell -= a[k] * (positive + negative)
    elif form == "weighted-categorical":
        per_cell = -(a * y * np.log(np.clip(p, CLIP_MIN, 1.0) ** b)).sum(axis=-1)
    else:
        raise InputArrayError(f"unknown form {form!r}; expected 'eq2' or 'weighted-categorical'")
    return float(per_cell.mean())


def max_adjacency_count(height: int, width: int) -> int:
    """Largest possible ``S_d`` of one ``height x width`` grid: ``4 (H - 1) (W - 1)``.

    A 2x2 window holding ``a`` cells of class A and ``b`` of class B (``a + b <= 4``) matches
    ``a * b`` of the 12 kernels, at most ``2 * 2 = 4``; stripes or a checkerboard of A and B
    reach 4 in every one of the ``(H - 1)(W - 1)`` windows.
    """
    if height < 2 or width < 2:
        raise InputArrayError(f"a grid needs at least 2 x 2 cells; got {height} x {width}")
    return 4 * (height - 1) * (width - 1)


def adjacency_count(onehot: np.ndarray, pair: Sequence[int]) -> int:
    r"""Discrete adjacency score ``S_d`` of a class pair (numpy reference, no TensorFlow).

    .. math::

        S_d = \sum_{n=1}^{12} \sum_{i,j} \left[ (K_n * [Y_A, Y_B])_{ij} = 2 \right]
            = \sum_{n} \sum_{i,j} Y_A[i + r^A_n, j + c^A_n] \; Y_B[i + r^B_n, j + c^B_n]

    over the ``(H - 1)(W - 1)`` positions ``(i, j)`` of a 2x2 window and the 12 placements
    ``((r^A, c^A), (r^B, c^B))`` of :data:`PLACEMENTS`. Each count is one (window, kernel)
    position, so two cells of classes A and B sharing an edge count once per window that holds
    both (twice inside the grid, once along its border), and two cells touching at a corner
    count once. Both orders (A left of B, B left of A, ...) count.

    Args:
        onehot: exact one-hot ``(H, W, C)`` or ``(batch, H, W, C)``; batches are summed.
        pair: two different class indices ``(A, B)``.

    Returns:
        ``S_d`` as a Python int.
    """
    a, b = _check_pair(pair)
    y = _onehot_batch(onehot, (a, b))
    ya, yb = y[..., a], y[..., b]
    rows, cols = y.shape[1] - 1, y.shape[2] - 1
    total = 0
    for (ra, ca), (rb, cb) in PLACEMENTS:
        hits = ya[:, ra : ra + rows, ca : ca + cols] & yb[:, rb : rb + rows, cb : cb + cols]
        total += int(np.count_nonzero(hits))
    return total


def normalized_adjacency(onehot: np.ndarray, pair: Sequence[int]) -> float:
    """Normalised adjacency score, the paper's Eq. 5: ``S_dn = S_d / (m n A_max)``.

    ``m n`` is the grid's number of cells and ``A_max = 4`` the most adjacencies of one pair a
    2x2 filter area can hold. For a batch, ``S_d`` is summed and divided by ``batch`` times
    ``m n A_max``: the mean of the images' ``S_dn``. (``4 (m - 1)(n - 1)``,
    :func:`max_adjacency_count`, is the largest ``S_d`` a grid can reach, so ``S_dn`` stays
    a little below 1.)
    """
    a, b = _check_pair(pair)
    y = _onehot_batch(onehot, (a, b))
    return adjacency_count(y, (a, b)) / (y.shape[0] * A_MAX * y.shape[1] * y.shape[2])


def adjacency_kernels() -> np.ndarray:
    """The 12 kernels as one ``(2, 2, 2, 12)`` float32 array for ``tf.nn.conv2d``.

    Input channel 0 is class A and 1 is class B; output channel ``n`` is :data:`PLACEMENTS`
    ``[n]`` (``conv2d`` correlates, so kernel cell ``(r, c)`` reads grid cell ``(i+r, j+c)``).
    """
    k = np.zeros((2, 2, 2, len(PLACEMENTS)), dtype=np.float32)
    for n, ((ra, ca), (rb, cb)) in enumerate(PLACEMENTS):
        k[ra, ca, 0, n] = 1.0
        k[rb, cb, 1, n] = 1.0
    return k


class PixelMetrics(TypedDict):
    """Result of :func:`pixel_metrics`: counts and scores of the cloud class."""

    tp: int
    fp: int
    tn: int
    fn: int
    n_valid: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    iou: float | None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def pixel_metrics(pred: np.ndarray, truth: np.ndarray) -> PixelMetrics:
    """Cloud-class scores of a full-resolution mask against its label.

    Both masks use the pixel codes of :mod:`cascade.classes` (``CLEAR = 0``, ``CLOUD = 1``,
    ``NODATA = 255``) and have the same shape. Pixels that are ``NODATA`` in ``truth`` are
    left out; a valid label pixel predicted ``NODATA`` counts as predicted "not cloud".
    With ``tp, fp, tn, fn`` counted over the ``n_valid`` remaining pixels::

        accuracy  = (tp + tn) / n_valid
        precision = tp / (tp + fp)
        recall    = tp / (tp + fn)
        f1        = 2 tp / (2 tp + fp + fn)
        iou       = tp / (tp + fp + fn)

    A score whose denominator is 0 is ``None`` (undefined), never NaN and never 0.0: a mask
    and label with no cloud at all have no cloud precision to report, and averaging a
    made-up 0 into a benchmark would be wrong.
    """
    p, t = np.asarray(pred), np.asarray(truth)
    if p.shape != t.shape:
        raise InputArrayError(
            f"pred and truth must have the same shape; got {p.shape} and {t.shape}"
        )
    codes = (CLEAR, CLOUD, NODATA)
    for name, arr in (("pred", p), ("truth", t)):
        bad = ~np.isin(arr, codes)
        if bad.any():
            raise InputArrayError(
                f"{name} must hold only the mask codes {codes} (clear, cloud, nodata); found "
                f"{np.unique(arr[bad])[:5].tolist()}. Threshold probabilities into a mask first"
            )
    valid = t != NODATA
    pred_cloud = (p == CLOUD) & valid
    true_cloud = t == CLOUD
    true_clear = t == CLEAR
    tp = int(np.count_nonzero(pred_cloud & true_cloud))
    fp = int(np.count_nonzero(pred_cloud & true_clear))
    fn = int(np.count_nonzero(~pred_cloud & true_cloud))
    tn = int(np.count_nonzero(~pred_cloud & true_clear))
    n_valid = tp + fp + tn + fn
    return PixelMetrics(
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        n_valid=n_valid,
        accuracy=_ratio(tp + tn, n_valid),
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        iou=_ratio(tp, tp + fp + fn),
    )
