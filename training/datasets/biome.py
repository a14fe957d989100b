"""The L8 Biome cloud validation set (Landsat 8 OLI/TIRS, USGS), as 256 x 256 patches.

Layout (as in ``LK-Peng/CNN-based-Cloud-Detection-Methods``, from which the patches in the
shared data come): ``Images/<Biome>_<nn>_<id>.tif`` and ``Masks/<same name>.tif``, one image
and one mask per patch, not georeferenced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from training.datasets.base import (
    DatasetError,
    LabelledScene,
    _as_float32,
    _check_values,
    _raster,
)

__all__ = ["BIOME_BANDS", "BIOME_CODES", "read_biome_patch", "read_biome_patches"]

# Band order of the patch images (checked from clear-pixel spectra: blue is brightest over
# vegetation and water at TOA; see the shared data README). The last band is the TIRS 10.9 um
# brightness temperature in kelvin, not a reflectance.
BIOME_BANDS = ("Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2", "Cirrus", "BT10")
# Mask codes of the L8 Biome set.
BIOME_CODES = {"fill": 0, "shadow": 64, "clear": 128, "thin_cloud": 192, "cloud": 255}


def read_biome_patch(image: str | Path, mask: str | Path, *, shadow: bool = False) -> LabelledScene:
    """One patch: ``image`` (8 bands) and its ``mask``.

    Scale: the image holds OLI bands 2-7 and 9 as TOA reflectance (about 0..1.6) and the TIRS
    band 10 brightness temperature in kelvin (``BT10``); band names as :data:`BIOME_BANDS`.
    Fill pixels (mask 0) are No Data: mask 255, every band 0.

    Labels: human (USGS L8 Biome). Thin cloud (192) and cloud (255) are cloud, clear (128)
    is clear; cloud shadow (64) is clear, or :data:`cascade.classes.SHADOW` (2) with
    ``shadow=True``.
    """
    img_path, mask_path = Path(image), Path(mask)
    img = _raster(img_path)
    if img.count != len(BIOME_BANDS):
        raise DatasetError(
            f"{img_path} has {img.count} bands; an L8 Biome patch image has {len(BIOME_BANDS)} "
            f"({', '.join(BIOME_BANDS)}); is this the Images/ file?"
        )
    m = _raster(mask_path)
    codes = m.data[0]
    if codes.shape != img.data.shape[1:]:
        raise DatasetError(
            f"{mask_path} is {codes.shape[0]} x {codes.shape[1]} pixels but its image "
            f"{img_path} is {img.data.shape[1]} x {img.data.shape[2]}; pair the right files"
        )
    _check_values(codes, BIOME_CODES.values(), mask_path, "L8 Biome codes 0, 64, 128, 192, 255")
    out = np.full(codes.shape, NODATA, dtype=np.uint8)
    out[codes == BIOME_CODES["clear"]] = CLEAR
    out[codes == BIOME_CODES["shadow"]] = SHADOW if shadow else CLEAR
    out[(codes == BIOME_CODES["thin_cloud"]) | (codes == BIOME_CODES["cloud"])] = CLOUD
    bands = _as_float32(img.data)
    bands[:, out == NODATA] = 0.0
    profile = {
        "crs": None,
        "transform": None,
        "source": str(img_path),
        "label_kind": "human",
        "biome": img_path.stem.split("_")[0],
        "scale": "TOA reflectance (bands 1-7), brightness temperature in K (BT10)",
    }
    return LabelledScene(bands, BIOME_BANDS, out, profile, img_path.stem)


def read_biome_patches(folder: str | Path, *, shadow: bool = False) -> list[LabelledScene]:
    """Every patch of a split folder holding ``Images/`` and ``Masks/`` (sorted by name)."""
    root = Path(folder)
    images, masks = root / "Images", root / "Masks"
    if not images.is_dir() or not masks.is_dir():
        raise DatasetError(
            f"{root} is not an L8 Biome patch folder: expected Images/ and Masks/ in it "
            "(e.g. .../l8biome_patches/train)"
        )
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not files:
        raise DatasetError(f"{images} holds no .tif images")
    missing = [p.name for p in files if not (masks / p.name).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} image(s) in {images} have no mask of the same name in {masks}, "
            f"e.g. {missing[0]}"
        )
    return [read_biome_patch(p, masks / p.name, shadow=shadow) for p in files]
