"""Plausibility checks of a scene's values against what the model expects (no extra read).

A model reads ``input x scale`` as TOA reflectance (its sidecar's ``normalization.scale``, or
``EngineConfig.input_scale``). Given values in another unit it answers anyway, and wrongly:
reflectance floats or 8-bit values given to a model of digital numbers (scale 1e-4) look
like black ground (all clear), digital numbers given to a reflectance model or saturated
values look like the brightest cloud (all cloud). :func:`unit_warning` looks at the pooled
coarse input, which the engine has anyway, with robust statistics (per-band medians and
99th percentiles over the valid coarse pixels), and says when the values cannot be TOA
reflectance.
"""

from __future__ import annotations

import numpy as np

from cascade.errors import name_of
from cascade.kernels import PooledScene

__all__ = ["MAX_PLAUSIBLE_MEDIAN", "MIN_PLAUSIBLE_BRIGHT", "input_statistics", "unit_warning"]

# Real top-of-atmosphere reflectance: even dark water reflects 0.05-0.1 in the blue (the
# atmosphere's own scattering), and the median of a scene is below 1 even under thick cloud
# or snow. 8-bit values at scale 1e-4 reach at most 0.0255; DN at scale 1 are in thousands.
MIN_PLAUSIBLE_BRIGHT = 0.03  # the brightest band's 99th percentile must reach this
MAX_PLAUSIBLE_MEDIAN = 1.5  # the bands' median of medians must not exceed this
_MAX_SAMPLES = 250_000


def input_statistics(pooled: PooledScene, scale: float) -> dict[str, float] | None:
    """``{"median", "p99"}`` of the scene in reflectance (``values x scale``), None without
    data: the median of the bands' medians and the largest band 99th percentile."""
    valid = pooled.valid_fraction > 0
    n = int(valid.sum())
    if n == 0:
        return None
    values = pooled.values[:, valid]
    step = max(1, n // _MAX_SAMPLES)
    sample = values[:, ::step].astype(np.float64) * scale
    medians = np.median(sample, axis=1)
    p99 = np.percentile(sample, 99, axis=1)
    return {"median": float(np.median(medians)), "p99": float(p99.max())}


def unit_warning(pooled: PooledScene, scale: float, model: str) -> str | None:
    """A warning when the scene's values are implausible as reflectance at ``scale``."""
    stats = input_statistics(pooled, scale)
    if stats is None:
        return None
    if stats["p99"] < MIN_PLAUSIBLE_BRIGHT:
        what = (
            f"nearly black (its brightest band's 99th percentile is reflectance "
            f"{stats['p99']:.3g}, expected above {MIN_PLAUSIBLE_BRIGHT}): reflectance or "
            "8-bit values given to a model of digital numbers?"
        )
    elif stats["median"] > MAX_PLAUSIBLE_MEDIAN:
        what = (
            f"brighter than any scene (median reflectance {stats['median']:.3g}, expected "
            f"below {MAX_PLAUSIBLE_MEDIAN}): digital numbers given to a reflectance model, "
            "or saturated values?"
        )
    else:
        return None
    option = name_of("input_scale", "EngineConfig(input_scale=...)")
    return (
        f"the input looks {what} Model {model} reads input x {scale:g} as TOA reflectance "
        f"(about 0..1.2, so inputs of about 0..{1.2 / scale:g}); its mask will be wrong. If "
        f"the input is in other units, set {option}: 1 for reflectance, 1e-4 for Sentinel-2 "
        "digital numbers"
    )
