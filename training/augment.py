"""Training windows from real images: crops at random scales, flips, clouds added, and the
sensor's calibration randomised.

The fine model learns from windows drawn here (:mod:`training.mix`): a window of a real image
(a human-labelled L8 Biome patch, a clear background) is cut at a random zoom (so a model sees
30 m Landsat and 10 m Sentinel-2 ground at both scales), turned by one of the eight
flips/rotations, sometimes given a cloud layer rendered by :mod:`training.render` over it (with
its shadow, and labels from the same physics), and finally given a random per-band gain, offset,
noise and blur, so that no one sensor's calibration is learnt ("domain randomisation").

Everything is numpy on ``(bands, h, w)`` reflectance and ``(h, w)`` uint8 labels (0 clear,
1 cloud, 2 shadow, 255 no data; a pixel with every band 0 is No Data).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cascade.classes import CLOUD, NODATA, SHADOW
from cascade.errors import ConfigError
from training.noise import FbmField
from training.render import (
    LABEL_REFLECTANCE,
    SHADOW_LABEL_LIGHT,
    cloud_color,
    cloud_reflectance,
    composite,
    shadow_factor,
    top_shading,
)

__all__ = [
    "UNANNOTATED",
    "AugmentConfig",
    "add_clouds",
    "dihedral",
    "path_reflectance",
    "randomise_sensor",
    "sample_window",
]


# Training label of a pixel whose shadow label is not known: clear or cloud shadow. A pixel
# labelled clear in an image not annotated for shadow (see training.mix), or under a rendered
# shadow too faint to see. The loss leaves such pixels out of the clear and shadow outputs;
# never in a mask the engine writes.
UNANNOTATED = 3


@dataclass(frozen=True)
class AugmentConfig:
    """How training windows are varied (the recipe's ``[augment]`` table).

    zoom: range of the scale factor (window pixels per source pixel; > 1 enlarges), drawn
    log-uniformly with probability ``zoom_p``, else 1. Sensor: ``gain_sd`` (a log-normal gain of
    all bands), ``band_gain_sd`` (per band), ``offset_sd`` (per-band additive reflectance),
    noise (probability ``noise_p``, standard deviation up to ``noise_max``), blur (probability
    ``blur_p``). Clouds: largest structures ``cloud_scale_px`` (log-uniform), cover drawn
    uniform in 0.03..0.95 (``clear_p`` of the layers are empty, ``overcast_p`` cover all),
    optical thickness of the deepest cloud ``tau_max`` (log-uniform), shadows cast with
    probability ``shadow_p``, the skylight's share of the light they leave drawn uniform in
    ``shadow_sky`` and its wavelength exponent uniform in
    ``shadow_sky_exponent`` (see :func:`training.render.shadow_factor`), the share of each
    band's path reflectance a shadow leaves undarkened uniform in ``shadow_path`` (the window's
    dark object, its 1st percentile per band, stands for the atmosphere's path reflectance: in
    TOA reflectance a cloud shadow darkens the ground's share of the light, not the light the
    air scatters above it; 0, the default, darkens the whole TOA reflectance), and shadow
    labels only where the ground visibly darkens (its mean drop over the bands at least
    ``shadow_min_drop`` reflectance; fainter shadow, e.g. over water, is :data:`UNANNOTATED`:
    neither clear nor shadow to the loss). ``strength`` scales every sensor perturbation (0:
    none).
    """

    zoom: tuple[float, float] = (0.7, 2.5)
    zoom_p: float = 0.6
    gain_sd: float = 0.12
    band_gain_sd: float = 0.05
    offset_sd: float = 0.01
    noise_p: float = 0.3
    noise_max: float = 0.01
    blur_p: float = 0.15
    strength: float = 1.0
    cloud_scale_px: tuple[float, float] = (12.0, 900.0)
    clear_p: float = 0.1
    overcast_p: float = 0.07
    tau_max: tuple[float, float] = (2.0, 80.0)
    shadow_p: float = 0.5
    # Range of the skylight's share of the light under rendered shadows (what a shadow leaves;
    # lower: darker shadows).
    shadow_sky: tuple[float, float] = (0.3, 0.6)
    # Range of the skylight's wavelength exponent under rendered shadows (0: grey skylight,
    # every band darkened alike; 2-4: a clear sky's bluer light, the NIR darkened most).
    shadow_sky_exponent: tuple[float, float] = (0.0, 0.0)
    # Range of the share of the window's dark object (per band: its path reflectance) that a
    # rendered shadow leaves undarkened (0: the whole TOA reflectance darkens).
    shadow_path: tuple[float, float] = (0.0, 0.0)
    # Smallest mean drop of reflectance over the bands that labels a rendered shadow pixel
    # shadow; fainter ones are UNANNOTATED (0: the light rule alone, every one labelled).
    shadow_min_drop: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "zoom", tuple(float(v) for v in self.zoom))
        object.__setattr__(self, "cloud_scale_px", tuple(float(v) for v in self.cloud_scale_px))
        object.__setattr__(self, "tau_max", tuple(float(v) for v in self.tau_max))
        object.__setattr__(self, "shadow_sky", tuple(float(v) for v in self.shadow_sky))
        exps = tuple(float(v) for v in self.shadow_sky_exponent)
        object.__setattr__(self, "shadow_sky_exponent", exps)
        object.__setattr__(self, "shadow_path", tuple(float(v) for v in self.shadow_path))
        ranges = {"zoom": self.zoom, "cloud_scale_px": self.cloud_scale_px, "tau_max": self.tau_max}
        bad = [
            f"{k} must be two positive numbers low <= high, got {list(v)}"
            for k, v in ranges.items()
            if len(v) != 2 or not 0 < v[0] <= v[1]
        ]
        probs = ("zoom_p", "noise_p", "blur_p", "clear_p", "overcast_p", "shadow_p")
        bad += [
            f"{k} must be in [0, 1], got {getattr(self, k)}"
            for k in probs
            if not 0 <= getattr(self, k) <= 1
        ]
        sds = ("gain_sd", "band_gain_sd", "offset_sd", "noise_max", "strength", "shadow_min_drop")
        bad += [f"{k} must be >= 0, got {getattr(self, k)}" for k in sds if getattr(self, k) < 0]
        if len(self.shadow_sky) != 2 or not 0 < self.shadow_sky[0] <= self.shadow_sky[1] < 1:
            bad.append(
                f"shadow_sky must be two numbers 0 < low <= high < 1, got {list(self.shadow_sky)}"
            )
        if len(exps) != 2 or not 0 <= exps[0] <= exps[1]:
            bad.append(
                f"shadow_sky_exponent must be two numbers 0 <= low <= high, got {list(exps)}"
            )
        if len(self.shadow_path) != 2 or not 0 <= self.shadow_path[0] <= self.shadow_path[1] <= 1:
            bad.append(
                "shadow_path must be two numbers 0 <= low <= high <= 1, got "
                f"{list(self.shadow_path)}"
            )
        if self.clear_p + self.overcast_p > 1:
            bad.append("clear_p + overcast_p must be <= 1")
        if bad:
            raise ConfigError("invalid [augment] settings: " + "; ".join(bad))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dihedral(a: np.ndarray, op: int) -> np.ndarray:
    """One of the eight flips/rotations (``op`` 0..7) of the last two axes."""
    if op & 4:
        a = a.swapaxes(-1, -2)
    return np.rot90(a, op & 3, axes=(-2, -1))


def _resize(x: np.ndarray, size: int, order: int) -> np.ndarray:
    """``(..., s, s)`` -> ``(..., size, size)``: bilinear (order 1) or nearest (order 0)."""
    from scipy.ndimage import zoom

    f = size / x.shape[-1]
    factors = (1,) * (x.ndim - 2) + (f, f)
    out = zoom(x, factors, order=order, prefilter=False, grid_mode=True, mode="grid-mirror")
    pad = [(0, 0)] * (x.ndim - 2) + [
        (0, max(0, size - out.shape[-2])),
        (0, max(0, size - out.shape[-1])),
    ]
    return np.pad(out, pad, mode="edge")[..., :size, :size]


def sample_window(
    image: np.ndarray,
    labels: np.ndarray,
    size: int,
    rng: np.random.Generator,
    cfg: AugmentConfig,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """A ``size`` x ``size`` window of ``image`` ``(bands, h, w)`` and ``labels`` ``(h, w)``
    at a random place, zoom and orientation (images smaller than the window are mirrored)."""
    z = 1.0
    if rng.random() < cfg.zoom_p:
        lo, hi = cfg.zoom
        z = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    src = max(8, round(size / z))
    h, w = labels.shape
    if src > h or src > w:
        ph, pw = max(0, src - h), max(0, src - w)
        mode: Literal["reflect", "edge"] = "reflect" if min(h, w) > max(ph, pw) else "edge"
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode=mode)
        labels = np.pad(labels, ((0, ph), (0, pw)), mode=mode)
        h, w = labels.shape
    r, c = int(rng.integers(0, h - src + 1)), int(rng.integers(0, w - src + 1))
    x = image[:, r : r + src, c : c + src]
    y = labels[r : r + src, c : c + src]
    if src != size:
        x, y = _resize(x, size, 1), _resize(y, size, 0)
    op = int(rng.integers(8))
    return (
        np.ascontiguousarray(dihedral(x, op), dtype=np.float32),
        np.ascontiguousarray(dihedral(y, op), dtype=np.uint8),
    )


def randomise_sensor(
    x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> npt.NDArray[np.float32]:
    """Per-band gain and offset, noise and blur on ``x`` ``(bands, h, w)``; No Data stays 0."""
    from scipy.ndimage import gaussian_filter

    k = cfg.strength
    nodata = ~x.any(axis=0)
    bands = x.shape[0]
    gain = np.asarray(np.exp(rng.normal(0.0, cfg.band_gain_sd * k, bands)), np.float32)
    gain *= np.float32(math.exp(rng.normal(0.0, cfg.gain_sd * k)))
    offset = np.asarray(rng.normal(0.0, cfg.offset_sd * k, bands), np.float32)
    out = x * gain[:, None, None] + offset[:, None, None]
    if k > 0 and rng.random() < cfg.noise_p:
        out += rng.normal(0.0, rng.uniform(0.0, cfg.noise_max * k), out.shape).astype(np.float32)
    if k > 0 and rng.random() < cfg.blur_p:
        out = gaussian_filter(out, (0.0, rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0)))
    out = np.maximum(out, 1e-4)  # a data pixel never becomes No Data (all bands 0)
    out[:, nodata] = 0.0
    return out.astype(np.float32)


def path_reflectance(x: np.ndarray, valid: np.ndarray) -> npt.NDArray[np.float32]:
    """``(bands, 1, 1)``: each band's dark object in ``x`` ``(bands, h, w)`` (its 1st
    percentile over the ``valid`` pixels; 0 without any), the stand-in for the reflectance the
    atmosphere adds above the ground (dark-object subtraction's estimate)."""
    if not valid.any():
        return np.zeros((x.shape[0], 1, 1), np.float32)
    dark = np.percentile(x[:, valid], 1.0, axis=1)
    return np.asarray(dark, np.float32)[:, None, None]


def _cover(rng: np.random.Generator, cfg: AugmentConfig) -> float:
    u = rng.random()
    if u < cfg.clear_p:
        return 0.0
    if u < cfg.clear_p + cfg.overcast_p:
        return 1.0
    return float(rng.uniform(0.03, 0.95))


def _optical_thickness(
    size: int, pad: int, rng: np.random.Generator, cfg: AugmentConfig, cover: float
) -> npt.NDArray[np.float32]:
    """A cloud layer's optical thickness over ``size + 2 pad`` square pixels."""
    n = size + 2 * pad
    lo, hi = cfg.cloud_scale_px
    scale = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    octaves = int(rng.integers(4, 8))
    field = FbmField(rng, n, n, scale, octaves, persistence=float(rng.uniform(0.45, 0.7)))
    f = field.rows(0, n, n)
    threshold = float(np.quantile(f, 1.0 - cover)) if cover < 1.0 else float(f.min()) - 0.3
    excess = np.maximum(f - threshold, 0.0)
    t_lo, t_hi = cfg.tau_max
    tau_max = math.exp(rng.uniform(math.log(t_lo), math.log(t_hi)))
    rise = rng.uniform(2.0, 12.0)
    tau = tau_max * (1.0 - np.exp(-excess * rise)) ** rng.uniform(0.5, 2.0)
    # Fine texture of the cloud tops (cumulus turrets, streaks).
    texture = FbmField(rng, n, n, float(rng.uniform(4.0, 30.0)), 3).rows(0, n, n)
    return (tau * np.exp(rng.uniform(0.1, 0.6) * texture)).astype(np.float32)


def add_clouds(
    x: np.ndarray,
    labels: np.ndarray,
    wavelengths_nm: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """A random cloud layer (and its shadow) over the square window ``x``, labels updated.

    Pixels already labelled keep their cloud; new cloud is where the layer's visible
    reflectance exceeds :data:`training.render.LABEL_REFLECTANCE`; shadow where the ground
    keeps less than 75 % of its light and no cloud is; No Data stays No Data.
    """
    bands, size, _ = x.shape
    cover = _cover(rng, cfg)
    if cover <= 0.0:
        return x, labels
    pad = 48
    tau = _optical_thickness(size, pad, rng, cfg, cover)
    core = (slice(pad, pad + size), slice(pad, pad + size))
    ground = x.copy()
    shade_left = np.ones((size, size), np.float32)
    if rng.random() < cfg.shadow_p:
        angle, dist = rng.uniform(0.0, 2 * math.pi), rng.uniform(3.0, 60.0)
        dy = int(np.clip(round(dist * math.sin(angle)), -pad, pad))
        dx = int(np.clip(round(dist * math.cos(angle)), -pad, pad))
        shifted = tau[pad - dy : pad - dy + size, pad - dx : pad - dx + size]
        sky, path = float(rng.uniform(*cfg.shadow_sky)), float(rng.uniform(0.5, 1.0))
        lo, hi = cfg.shadow_sky_exponent
        exponent = float(rng.uniform(lo, hi)) if hi > lo else lo  # no draw: streams kept
        # The label follows the light left at the reference wavelength; each band darkens by
        # its own share of skylight (bluer skylight: the NIR darkens most).
        shade_left = shadow_factor(shifted, sky, path)
        light = shadow_factor(shifted, sky, path, wavelengths_nm, exponent)
        lo, hi = cfg.shadow_path
        if hi > 0:  # no draw when off: streams kept
            above = path_reflectance(x, labels != NODATA) * float(rng.uniform(lo, hi))
            ground = np.minimum(ground, above) + np.maximum(ground - above, 0.0) * light
        else:
            ground *= light
    t = tau[core]
    refl = cloud_reflectance(t)
    relief = top_shading(
        t, rng.uniform(0.0, 2 * math.pi), rng.uniform(1.0, 4.0), rng.uniform(0.7, 2.5)
    )
    top = ("low", "mid", "high")[int(rng.integers(3))]
    color = cloud_color(wavelengths_nm, top, rng) * np.float32(rng.uniform(0.85, 1.2))
    color *= np.exp(rng.normal(0.0, 0.03, bands)).astype(np.float32)
    out = composite(ground, refl, color, relief)
    nodata = labels == NODATA
    out[:, nodata] = 0.0
    visible = (
        float(np.mean(color[np.asarray(wavelengths_nm) < 700]))
        if np.any(np.asarray(wavelengths_nm) < 700)
        else float(color.mean())
    )
    cloud = refl * relief * visible > LABEL_REFLECTANCE
    new = labels.copy()
    new[cloud & ~nodata] = CLOUD
    shade = (shade_left < SHADOW_LABEL_LIGHT) & ~cloud & ~nodata & (labels != CLOUD)
    new[shade] = SHADOW
    if cfg.shadow_min_drop > 0:
        faint = shade & (np.mean(x - ground, axis=0) < cfg.shadow_min_drop)
        new[faint] = UNANNOTATED
    return out, new
