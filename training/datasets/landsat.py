"""Landsat 8 band files with the pre-collection BQA quality band as the label."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from training.datasets.base import (
    DatasetError,
    LabelledScene,
    _check_pair_geometry,
    _read_band,
    band_files,
)

__all__ = ["read_landsat_qa"]


def read_landsat_qa(
    folder_or_files: str | Path | Sequence[str | Path],
    *,
    min_confidence: int = 3,
    include_cirrus: bool = False,
) -> LabelledScene:
    """Landsat 8 band files with the *pre-collection* BQA quality band as the label.

    Files are recognised by their band token (``..._B1.tif`` .. ``..._B9.tif``,
    ``..._BQA.tif``). The panchromatic B8 (15 m) and the thermal B10, B11 are not read.

    Scale: raw uint16 L1 DN, converted with the ``landsat8-oli`` profile's rescaling
    ``DN * 2e-5 - 0.1`` *without* the sun-elevation correction (which needs the scene's MTL).

    Labels: algorithm (the USGS pre-collection BQA band, coarse). Cloud iff the cloud
    confidence, bits 14-15 (1 low, 2 medium, 3 high), is >= ``min_confidence``; with
    ``include_cirrus``, also where the cirrus confidence, bits 12-13, is. Bit 0 (designated
    fill) is No Data (mask 255, bands 0). Collection 1 ``BQA`` and Collection 2 ``QA_PIXEL``
    bands use other bit layouts and would give wrong masks here.

    Returns
    -------
    LabelledScene
        Bands B1..B7, B9 (``landsat8-oli``), georeferenced as the band files;
        ``profile["min_confidence"]``, ``profile["include_cirrus"]``.
    """
    if min_confidence not in (1, 2, 3):
        raise DatasetError(
            f"min_confidence={min_confidence!r}; expected 1 (low), 2 (medium) or 3 (high)"
        )
    root, found = band_files(folder_or_files, "Landsat 8")
    oli = get_band_profile("landsat8-oli")
    missing = [b for b in (*oli.band_names, "BQA") if b not in found]
    if missing:
        raise DatasetError(
            f"Landsat 8 bands {missing} not found in {root} (found {sorted(found)}); "
            "expected files named like l8_B1.tif .. l8_B9.tif and l8_BQA.tif"
        )
    qa, crs, transform = _read_band(found["BQA"])
    if qa.dtype != np.uint16:
        raise DatasetError(f"{found['BQA']} holds {qa.dtype}; a Landsat 8 BQA band is uint16")
    dn = np.empty((len(oli), *qa.shape), dtype=np.uint16)
    for i, name in enumerate(oli.band_names):
        data, _, band_transform = _read_band(found[name])
        _check_pair_geometry(
            found[name], data.shape, band_transform, found["BQA"], qa.shape, transform
        )
        dn[i] = data

    cloud_conf = (qa >> 14) & 0b11
    cloud = cloud_conf >= min_confidence
    if include_cirrus:
        cloud |= ((qa >> 12) & 0b11) >= min_confidence
    fill = (qa & 1) == 1
    mask = np.where(cloud, CLOUD, CLEAR).astype(np.uint8)
    mask[fill] = NODATA
    bands = oli.to_reflectance(dn)
    bands[:, fill] = 0.0
    profile = {
        "crs": crs,
        "transform": transform,
        "source": str(root),
        "label_kind": "algorithm",
        "label_source": "Landsat 8 pre-collection BQA",
        "min_confidence": min_confidence,
        "include_cirrus": include_cirrus,
        "scale": "DN * 2e-5 - 0.1, no sun-elevation correction",
    }
    name = re.sub(r"[_\-.]?BQA$", "", found["BQA"].stem, flags=re.IGNORECASE) or root.name
    return LabelledScene(bands, oli.band_names, mask, profile, name)
