"""The peers we compare with, run as their users run them: ukis-csmask (and s2cloudless, in
:mod:`benchmarks.suite`).

ukis-csmask (DLR, Apache-2.0, PyPI) segments cloud and cloud shadow with a U-Net/EfficientNet-B4
exported to ONNX; it takes TOA reflectance at about 30 m and picks its 4-band model (Blue,
Green, Red, NIR) or, where SWIR1 and SWIR2 are present, its 6-band model. Run here with its
defaults (``product_level="l1c"``, 256-pixel tiles with 20 % overlap and smooth blending); its
``csm`` classes 0 background, 1 cloud, 2 shadow become our codes 0 clear, 1 cloud, 2 shadow.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from cascade.bands import match_bands
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import BandMismatchError

__all__ = ["UKIS_BANDS_4", "UKIS_BANDS_6", "ukis_bands", "ukis_mask"]

UKIS_BANDS_4 = ("Blue", "Green", "Red", "NIR")
UKIS_BANDS_6 = (*UKIS_BANDS_4, "SWIR1", "SWIR2")
# ukis-csmask's names for our canonical bands.
_UKIS_NAMES = {
    "Blue": "blue",
    "Green": "green",
    "Red": "red",
    "NIR": "nir",
    "SWIR1": "swir16",
    "SWIR2": "swir22",
}


# Other names of the SWIR bands (Sentinel-2's B11/B12; Landsat's are SWIR1/SWIR2 here).
_SWIR = {"SWIR1": ("SWIR1", "B11", "swir16"), "SWIR2": ("SWIR2", "B12", "swir22")}


def ukis_bands(names: Sequence[str], six: bool) -> list[int] | None:
    """Indices of the bands the 4-band (or 6-band) model needs, None when some are missing."""
    try:
        idx = match_bands(list(names), UKIS_BANDS_4)
    except BandMismatchError:
        return None
    if not six:
        return idx
    upper = [str(n).upper() for n in names]
    for band in ("SWIR1", "SWIR2"):
        hit = next((upper.index(a.upper()) for a in _SWIR[band] if a.upper() in upper), None)
        if hit is None:
            return None
        idx.append(hit)
    return idx


def ukis_mask(
    bands: np.ndarray,
    names: Sequence[str],
    *,
    six: bool = False,
    nodata: np.ndarray | None = None,
) -> np.ndarray:
    """ukis-csmask's mask (0 clear, 1 cloud, 2 shadow, 255 no data) of ``(C, H, W)`` TOA
    reflectance, with its 4-band model (or its 6-band model with ``six=True``)."""
    from ukis_csmask.mask import CSmask

    wanted = UKIS_BANDS_6 if six else UKIS_BANDS_4
    idx = ukis_bands(names, six)
    if idx is None:
        raise BandMismatchError(
            f"ukis-csmask needs bands {list(wanted)}; the image has {list(names)}"
        )
    img = np.ascontiguousarray(np.moveaxis(bands[idx], 0, -1), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "smaller than the tiling size"
        csm = CSmask(img, band_order=[_UKIS_NAMES[b] for b in wanted], product_level="l1c").csm
    out = np.choose(csm[..., 0].astype(np.intp), [CLEAR, CLOUD, SHADOW]).astype(np.uint8)
    if nodata is not None:
        out[nodata] = NODATA
    return out
