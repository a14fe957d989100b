"""How a cloud layer looks from above: the radiative compositing shared by the scene simulator
and the training windows.

A cloud is described by its optical thickness ``tau`` (per pixel, >= 0). Its reflectance and
diffuse transmission follow the two-stream approximation for a conservatively scattering layer
with asymmetry factor ``g`` (water clouds: 0.85)::

    R = tau (1 - g) / (2 + tau (1 - g)),    T = 1 - R

so thin veils (tau ~ 1) reflect a few per cent and let most of the ground through, and thick
decks (tau ~ 50) reach a visible reflectance near 0.8. At the top of the atmosphere, band ``b``::

    TOA_b = c_b s R + T^2 rho_b / (1 - R rho_b / 2)

where ``c_b`` is the cloud's reflectance relative to the visible (:func:`cloud_color`: flat in
the VNIR, set by the cloud-top height in the water-vapour bands), ``s`` the relief shading of
the cloud top (puffy tops have lit and shaded flanks: :func:`top_shading`), ``rho_b`` the
ground's reflectance (already darkened where a cloud shadow falls: :func:`shadow_factor`), and
the last denominator the light bounced between ground and cloud base.

Labels follow what annotators see: a pixel is cloud where the cloud's own visible reflectance
``c_vis s R`` exceeds :data:`LABEL_REFLECTANCE`. The value was read off the human labels of the
L8 Biome training patches: at the edge of labelled cloud, the blue reflectance is a median of
0.04 above the clear ground next to it (0.006-0.12 over eight patches), which this model gives
at ``R`` of about 0.055 over typical ground.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cascade.errors import SimulationError

__all__ = [
    "ASYMMETRY",
    "LABEL_REFLECTANCE",
    "SHADOW_LABEL_LIGHT",
    "cloud_color",
    "cloud_reflectance",
    "composite",
    "shadow_factor",
    "tau_for_reflectance",
    "top_shading",
]

ASYMMETRY = 0.85
LABEL_REFLECTANCE = 0.055
# Cloud shadow in the labels: ground left with less than this share of its light (and not
# cloud); the rendered clouds of training windows and the simulator label alike.
SHADOW_LABEL_LIGHT = 0.75
# Cloud reflectance relative to the visible, by band centre (nm): thick-cloud spectra of the
# L8 Biome patches (median over cloud pixels: blue 1.0, green 0.97, red 1.0, NIR 1.04), the
# SWIR lower where ice and water absorb. The water-vapour bands (945, 1375 nm) depend on how
# much vapour lies above the cloud top: see ``_VAPOUR``.
_COLOR = ((400, 1.02), (490, 1.0), (560, 0.97), (660, 1.0), (860, 1.04), (1610, 0.72), (2200, 0.5))
# (945 nm, 1375 nm) relative reflectance ranges by cloud top: low cumulus lie under most of the
# vapour (eo-learn's cloudy Sentinel-2 frames: B09 / B08 ~ 0.35-0.44, B10 ~ 0.002-0.005), high
# tops above it.
_VAPOUR = {
    "low": ((0.2, 0.45), (0.002, 0.03)),
    "mid": ((0.45, 0.8), (0.05, 0.3)),
    "high": ((0.8, 1.0), (0.3, 0.6)),
}


def cloud_reflectance(tau: np.ndarray, g: float = ASYMMETRY) -> npt.NDArray[np.float32]:
    """Two-stream reflectance of a cloud of optical thickness ``tau`` (0 where tau = 0)."""
    t = np.maximum(np.asarray(tau, dtype=np.float32), 0.0) * np.float32(1.0 - g)
    return (t / (2.0 + t)).astype(np.float32)


def tau_for_reflectance(r: float, g: float = ASYMMETRY) -> float:
    """The optical thickness whose two-stream reflectance is ``r`` (0 <= r < 1)."""
    if not 0.0 <= r < 1.0:
        raise SimulationError(f"a cloud reflectance must be in [0, 1), got {r}")
    return 2.0 * r / ((1.0 - g) * (1.0 - r))


def cloud_color(
    wavelengths_nm: np.ndarray, top: str = "mid", rng: np.random.Generator | None = None
) -> npt.NDArray[np.float32]:
    """Cloud reflectance relative to the visible at each band centre.

    ``top`` (``"low"``, ``"mid"``, ``"high"``) sets the 945 and 1375 nm water-vapour bands:
    the middle of their range, or a uniform draw from it with ``rng``.
    """
    if top not in _VAPOUR:
        raise SimulationError(f"cloud top must be one of {sorted(_VAPOUR)}, got {top!r}")
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    x, y = zip(*_COLOR, strict=True)
    out = np.interp(wl, x, y)
    (a945, b945), (a1375, b1375) = _VAPOUR[top]
    f945 = rng.uniform(a945, b945) if rng is not None else 0.5 * (a945 + b945)
    f1375 = rng.uniform(a1375, b1375) if rng is not None else 0.5 * (a1375 + b1375)
    near = np.interp(860.0, x, y)
    out[np.abs(wl - 945.0) < 30.0] = near * f945
    out[np.abs(wl - 1375.0) < 30.0] = f1375
    return out.astype(np.float32)


def top_shading(
    tau: np.ndarray, azimuth_rad: float, relief: float, smooth_px: float = 1.5
) -> npt.NDArray[np.float32]:
    """Brightness factor of a cloud top lit from ``azimuth_rad`` (0.45..1.35).

    The top's height is taken as ``log(1 + tau)``, smoothed by ``smooth_px``; its slope towards
    the sun, times ``relief``, brightens the lit flanks and darkens the others. Computed on the
    array given: callers working in strips pass a halo of a few rows and crop it off.
    """
    from scipy.ndimage import gaussian_filter

    h = np.log1p(np.maximum(tau, 0.0)).astype(np.float32)
    if smooth_px > 0:
        h = gaussian_filter(h, smooth_px)
    if h.shape[0] < 2 or h.shape[1] < 2:
        return np.ones_like(h)
    gy, gx = np.gradient(h)
    slope = gx * np.cos(azimuth_rad) + gy * np.sin(azimuth_rad)
    return np.clip(1.0 + relief * slope, 0.45, 1.35).astype(np.float32)


# Skylight's share of the light by wavelength: Rayleigh scattering makes it bluer, so a cloud
# shadow (direct beam blocked, skylight left) darkens the NIR more than the blue.
SKY_REFERENCE_NM = 560.0


def shadow_factor(
    tau_shifted: np.ndarray,
    sky: float,
    path: float,
    wavelengths_nm: np.ndarray | None = None,
    sky_exponent: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Share of the ground's light left under a cloud shadow.

    ``tau_shifted`` is the cloud's optical thickness seen along the sun's ray (the cloud field
    shifted by the shadow offset); the direct beam falls off as ``exp(-tau / path)`` while the
    diffuse skylight (``sky``, 0.2-0.6 of the light at 560 nm) still reaches the ground.
    ``(h, w)``; with ``wavelengths_nm`` ``(bands, h, w)``, the skylight share of band ``b``
    being ``sky * (wavelength_b / 560) ** -sky_exponent`` (at most 0.9): about 2-4 for a clear
    sky's Rayleigh-dominated light, 0 for grey skylight.
    """
    direct = np.exp(-np.maximum(tau_shifted, 0.0) / max(path, 1e-3))
    if wavelengths_nm is None:
        return (sky + (1.0 - sky) * direct).astype(np.float32)
    ratio = np.asarray(wavelengths_nm, np.float64) / SKY_REFERENCE_NM
    skies = np.minimum(sky * ratio**-sky_exponent, 0.9).astype(np.float32)[:, None, None]
    return (skies + (1.0 - skies) * direct[None]).astype(np.float32)


def composite(
    ground: np.ndarray,
    reflectance: np.ndarray,
    color: np.ndarray,
    shading: np.ndarray | None = None,
) -> npt.NDArray[np.float32]:
    """TOA reflectance ``(bands, h, w)`` of a cloud of two-stream ``reflectance`` ``(h, w)``
    over ``ground`` ``(bands, h, w)`` (see the module docstring); ``color`` ``(bands,)`` is the
    cloud's reflectance per band relative to the visible, ``shading`` its top relief."""
    r = np.asarray(reflectance, dtype=np.float32)
    lit = r if shading is None else r * shading
    t2 = (1.0 - r) ** 2
    c = np.asarray(color, dtype=np.float32)[:, None, None]
    bounce = 1.0 - 0.5 * r[None] * ground
    return (c * lit[None] + t2[None] * ground / bounce).astype(np.float32)
