"""Scenes composed for the coarse model: real ground, real and rendered clouds, many cells.

The coarse model judges whole 248-pixel cells, so it needs scenes of many cells. Few real
labelled scenes are that large, so a recipe source ``kind = "composed"`` makes them:

- **mosaics** of real labelled L8 Biome patches, one patch per cell (each cropped to the cell
  core and turned at random): real cloud and real ground at the scale the coarse model sees
  them, with human labels; a share of them built of cloud-free patches only;
- **large clear backgrounds** (the profile's, at a random zoom);

each given, with some probability, a scene-wide cloud layer (:func:`training.augment.add_clouds`
with cloud structures of 150-4000 px) and a randomised sensor; then cut to a random extent that
often ends inside a cell (thin last rows and columns, as a Sentinel-2 tile's 68-pixel last cell
row), and sometimes given a No Data corner wedge. Labels: cloud / clear / No Data; cloud
shadow counts as clear, or with ``shadow = true`` stays shadow (unusable ground: the cell
classes of a model pair with a shadow class, :func:`cascade.kernels.pool_labels`).

    { kind = "composed", count = 600, seed = 11, biome = "data:l8biome_patches/train" }
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cascade.bands import BandProfile
from cascade.classes import CLEAR, NODATA, SHADOW
from cascade.errors import RecipeError
from training.augment import AugmentConfig, add_clouds, dihedral, randomise_sensor, sample_window
from training.datasets import LabelledScene
from training.mix import Image, MixSource, load_images, resolve_path

__all__ = ["COMPOSED_OPTIONS", "composed_scenes"]

CORE = 248
# Scene-wide clouds: larger structures than a training window's, more clear and overcast.
_SCENE_CLOUDS = AugmentConfig(cloud_scale_px=(150.0, 4000.0), clear_p=0.12, overcast_p=0.08)
COMPOSED_OPTIONS = (
    "count",
    "seed",
    "biome",
    "cells",
    "mosaic",
    "clear_mosaic",
    "clouds",
    "shadow",
)


def _mosaic(
    tiles: list[Image], cells: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    side = cells * CORE
    bands = tiles[0].bands.shape[0]
    img = np.zeros((bands, side, side), np.float32)
    lab = np.zeros((side, side), np.uint8)
    for r in range(cells):
        for c in range(cells):
            t = tiles[int(rng.integers(len(tiles)))]
            op = int(rng.integers(8))
            h, w = t.labels.shape
            if min(h, w) < CORE:
                raise RecipeError(f"mosaic tile {t.name} is {h} x {w}; tiles need >= {CORE} px")
            r0, c0 = int(rng.integers(0, h - CORE + 1)), int(rng.integers(0, w - CORE + 1))
            cell = (slice(r * CORE, (r + 1) * CORE), slice(c * CORE, (c + 1) * CORE))
            img[(slice(None), *cell)] = dihedral(t.bands[:, r0 : r0 + CORE, c0 : c0 + CORE], op)
            lab[cell] = dihedral(t.labels[r0 : r0 + CORE, c0 : c0 + CORE], op)
    return img, lab


def _extent(
    img: np.ndarray, lab: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random extent (half the time not whole cells) and sometimes a No Data wedge."""
    side = lab.shape[0]
    h = side if rng.random() < 0.5 else int(rng.integers(3 * CORE + 1, side))
    w = side if rng.random() < 0.5 else int(rng.integers(3 * CORE + 1, side))
    img, lab = np.ascontiguousarray(img[:, :h, :w]), np.ascontiguousarray(lab[:h, :w])
    if rng.random() < 0.15:
        yy, xx = np.mgrid[0:h, 0:w]
        wedge = (yy / (rng.uniform(0.2, 0.9) * h) + xx / (rng.uniform(0.2, 0.9) * w)) < 1
        img[:, wedge] = 0.0
        lab[wedge] = NODATA
    return img, lab


def composed_scenes(
    options: dict[str, Any], profile: BandProfile, base: Path
) -> tuple[list[str], Iterator[LabelledScene]]:
    """Names and an iterator of the composed scenes of one recipe source (see module doc)."""
    unknown = sorted(set(options) - set(COMPOSED_OPTIONS))
    if unknown:
        raise RecipeError(
            f"composed source: unknown key(s) {unknown}; known: {list(COMPOSED_OPTIONS)}"
        )
    count, seed = int(options.get("count", 100)), int(options.get("seed", 0))
    cells = int(options.get("cells", 5))
    if "biome" not in options:
        raise RecipeError("a composed source needs biome = '<folder of L8 Biome patches>'")
    names = [f"composed_{seed}_{i:04d}" for i in range(count)]

    def scenes() -> Iterator[LabelledScene]:
        rng = np.random.default_rng(seed)
        biome = MixSource("biome", resolve_path(str(options["biome"]), base))
        tiles = load_images(biome, profile, rng)
        clear_tiles = [t for t in tiles if not (t.labels == 1).any()] or tiles
        grounds = load_images(MixSource("backgrounds"), profile, rng)
        wavelengths = np.array([b.wavelength_nm for b in profile.bands], np.float32)
        big = replace(_SCENE_CLOUDS, zoom=(0.5, 1.0), zoom_p=1.0)
        mosaic = float(options.get("mosaic", 0.4))
        clear_mosaic = float(options.get("clear_mosaic", 0.2))
        clouds = options.get("clouds", [0.4, 0.85, 0.9])
        keep_shadow = bool(options.get("shadow", False))
        for name in names:
            u = rng.random()
            if u < mosaic:
                img, lab, p = *_mosaic(tiles, cells, rng), clouds[0]
            elif u < mosaic + clear_mosaic:
                img, lab, p = *_mosaic(clear_tiles, cells, rng), clouds[1]
            else:
                g = grounds[int(rng.integers(len(grounds)))]
                img, lab = sample_window(g.bands, g.labels, cells * CORE, rng, big)
                p = clouds[2]
            if rng.random() < p:
                img, lab = add_clouds(img, lab, wavelengths, rng, _SCENE_CLOUDS)
            img = randomise_sensor(img, rng, _SCENE_CLOUDS)
            if not keep_shadow:
                lab = np.where(lab == SHADOW, CLEAR, lab).astype(np.uint8)
            img, lab = _extent(img, lab, rng)
            prof = {"source": "composed", "label_kind": "composed", "seed": seed}
            yield LabelledScene(img, profile.band_names, lab, prof, name)

    return names, scenes()
