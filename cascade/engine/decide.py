"""Decisions: from the models' probabilities to the mask, a step of its own.

The engine keeps probabilities and decisions apart (as s2cloudless does with
``get_cloud_probability_maps`` and ``get_mask_from_prob``): the models give the coarse class
probabilities of every cell and the fine cloud probability of every routed pixel; this module
turns them into the mask. The fine loop applies :func:`cloud_labels` batch by batch (so the
full-resolution probabilities need not be kept); with the probabilities kept
(``EngineConfig(keep_probabilities=True)``), :func:`decide` makes the same mask again at any
threshold, so a threshold sweep needs no new inference.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.geometry import SceneGeometry

__all__ = [
    "CLASS_TO_MASK",
    "UNUSABLE",
    "USABLE",
    "cell_raster",
    "cloud_labels",
    "decide",
    "fine_labels",
    "mask_from_classes",
    "usable_mask",
]

# Codes of the usable-ground mask (usable_mask); No Data stays NODATA.
UNUSABLE, USABLE = 0, 1

# Value of each coarse class (Overcast, Partly Cloudy, Cloudless, No Data) in the mask where
# the fine model did not run: Partly Cloudy cells left to the coarse model count as cloud.
CLASS_TO_MASK = np.array([CLOUD, CLOUD, CLEAR, NODATA], dtype=np.uint8)


def cloud_labels(cloud: np.ndarray, threshold: float) -> npt.NDArray[np.uint8]:
    """Fine-model cloud probabilities to labels: cloud where ``>= threshold``, else clear."""
    return np.where(cloud >= threshold, CLOUD, CLEAR).astype(np.uint8)


def fine_labels(
    cloud: np.ndarray,
    threshold: float,
    shadow: np.ndarray | None = None,
    shadow_threshold: float = 0.5,
) -> npt.NDArray[np.uint8]:
    """Fine-model probabilities to labels: cloud where ``cloud >= threshold``; else, with a
    shadow probability, cloud shadow where ``shadow >= shadow_threshold``; else clear. Cloud
    wins where both pass: a shadow is only seen on ground the cloud leaves visible."""
    out = cloud_labels(cloud, threshold)
    if shadow is not None:
        out[(out == CLEAR) & (shadow >= shadow_threshold)] = SHADOW
    return out


def usable_mask(mask: np.ndarray) -> npt.NDArray[np.uint8]:
    """The usable-ground mask of a mask: 1 clear (usable), 0 cloud or cloud shadow
    (unusable), 255 No Data."""
    out = np.where(mask == CLEAR, USABLE, UNUSABLE).astype(np.uint8)
    out[mask == NODATA] = NODATA
    return out


def cell_raster(values: np.ndarray, g: SceneGeometry) -> np.ndarray:
    """A ``(rows, cols)`` grid of per-cell values at full resolution ``(height, width)``."""
    full = np.repeat(np.repeat(values, g.core, axis=0)[: g.height], g.core, axis=1)
    return np.ascontiguousarray(full[:, : g.width])


def mask_from_classes(cell_classes: np.ndarray, g: SceneGeometry) -> npt.NDArray[np.uint8]:
    """The mask the coarse classes alone give (Overcast, Partly Cloudy -> cloud, ...)."""
    return cell_raster(CLASS_TO_MASK[cell_classes], g)


def decide(
    probabilities: np.ndarray,
    cell_classes: np.ndarray,
    routed: np.ndarray,
    g: SceneGeometry,
    threshold: float,
    shadow_probabilities: np.ndarray | None = None,
    shadow_threshold: float = 0.5,
) -> npt.NDArray[np.uint8]:
    """The mask of a run from its probabilities, at ``threshold``, without inference.

    ``probabilities`` ``(height, width)`` float32 (NaN at No Data), ``cell_classes`` and
    ``routed`` ``(rows, cols)``: as a :class:`cascade.engine.CascadeResult` holds them when
    the probabilities were kept (and ``shadow_probabilities`` with ``shadow_threshold`` for a
    run that marks shadow). Routed cells take :func:`fine_labels` of their fine
    probabilities, the others their coarse class, No Data pixels 255: the engine's rule.
    """
    mask = mask_from_classes(cell_classes, g)
    fine = cell_raster(routed, g)
    shadow = None if shadow_probabilities is None else shadow_probabilities[fine]
    mask[fine] = fine_labels(probabilities[fine], threshold, shadow, shadow_threshold)
    mask[np.isnan(probabilities)] = NODATA
    return mask
