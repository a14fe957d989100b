"""Arrays from other packages' test data: ukis-csmask, s2cloudless, eo-learn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.io.raster import georef_from_bounds
from training.datasets.base import (
    DatasetError,
    LabelledScene,
    _as_float32,
    _check_shape,
    _check_values,
    _load_npz,
    _require_file,
)

__all__ = ["read_eolearn_frames", "read_s2cloudless_npz", "read_ukis_npz"]


_UKIS_BANDS = ("Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2")
_UKIS_CLOUD = 4  # classes: 0 cloud shadow, 1 water, 2 snow, 3 land, 4 cloud
_UKIS_SHADOW = 0


def read_ukis_npz(path: str | Path, *, shadow: bool = False) -> LabelledScene:
    """A ukis-csmask test file (``landsat7.npz``, ``landsat5.npz``).

    Scale: ``img`` (height, width, 6) is already float32 TOA reflectance; it is only moved
    band-first. Bands Blue, Green, Red, NIR, SWIR1, SWIR2. Not georeferenced.

    Labels: reference (``msk`` classes 0 cloud shadow, 1 water, 2 snow, 3 land, 4 cloud;
    cloud iff 4, everything else clear; with ``shadow=True`` class 0 is
    :data:`cascade.classes.SHADOW`). There is no No Data class.
    """
    p = Path(path)
    arrays = _load_npz(p, ("img", "msk"), "ukis-csmask test file")
    img, msk = arrays["img"], arrays["msk"]
    _check_shape(img, (None, None, len(_UKIS_BANDS)), p, "img")
    if msk.ndim == 3 and msk.shape[2] == 1:
        msk = msk[:, :, 0]
    _check_shape(msk, img.shape[:2], p, "msk")
    _check_values(msk, range(5), p, "classes 0..4 (4 = cloud)")
    mask = np.where(msk == _UKIS_CLOUD, CLOUD, CLEAR).astype(np.uint8)
    if shadow:
        mask[msk == _UKIS_SHADOW] = SHADOW
    profile = {"crs": None, "transform": None, "source": str(p), "label_kind": "reference"}
    return LabelledScene(_as_float32(np.moveaxis(img, -1, 0)), _UKIS_BANDS, mask, profile, p.stem)


def read_s2cloudless_npz(path: str | Path, *, index: int = 0) -> LabelledScene:
    """The s2cloudless test scene, ``input_arrays.npz``.

    Scale: ``s2_im`` (n, height, width, 13) is float32 reflectance (DN / 10000) in the
    ``sentinel2-l1c-13`` order B01, B02, B03, B04, B05, B06, B07, B08, B8A, B09, B10, B11, B12;
    image ``index`` is returned, band-first. Not georeferenced.

    Labels: algorithm (``cl_mask``, the s2cloudless mask, 1 cloud / 0 clear). The s2cloudless
    probability ``cl_probs`` is kept as ``profile["cloud_probability"]`` ((height, width)
    float32), so that a threshold can be swept against it.
    """
    p = Path(path)
    arrays = _load_npz(p, ("s2_im", "cl_mask"), "s2cloudless test arrays")
    profile_13 = get_band_profile("sentinel2-l1c-13")
    im, cl_mask = arrays["s2_im"], arrays["cl_mask"]
    _check_shape(im, (None, None, None, len(profile_13)), p, "s2_im")
    if not 0 <= index < im.shape[0]:
        raise DatasetError(
            f"index={index}, but {p} holds {im.shape[0]} image(s); use 0..{im.shape[0] - 1}"
        )
    _check_shape(cl_mask, im.shape[:3], p, "cl_mask")
    _check_values(cl_mask[index], (0, 1), p, "0 (clear) and 1 (cloud) in cl_mask")
    mask = np.where(cl_mask[index] == 1, CLOUD, CLEAR).astype(np.uint8)
    profile: dict[str, Any] = {
        "crs": None,
        "transform": None,
        "source": str(p),
        "label_kind": "algorithm",
        "label_source": "s2cloudless cl_mask",
    }
    if "cl_probs" in arrays:
        probs = arrays["cl_probs"]
        _check_shape(probs, im.shape[:3], p, "cl_probs")
        profile["cloud_probability"] = _as_float32(probs[index])
    bands = _as_float32(np.moveaxis(im[index], -1, 0))
    return LabelledScene(bands, profile_13.band_names, mask, profile, f"{p.parent.name}/{index}")


def _bbox_georef(path: Path, height: int, width: int) -> tuple[Any, Any]:
    """CRS and transform from eo-learn's ``bbox.geojson`` (a polygon with a named CRS)."""
    try:
        doc = json.loads(path.read_text())
        xs, ys = zip(*doc["coordinates"][0], strict=False)
        bounds = (min(xs), min(ys), max(xs), max(ys))
        return georef_from_bounds(doc["crs"]["properties"]["name"], bounds, width, height)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DatasetError(
            f"cannot read a bounding box from {path} ({exc}); expected a GeoJSON polygon with "
            "a 'crs' member, as eo-learn writes; delete the file to read without georeferencing"
        ) from exc


def read_eolearn_frames(folder: str | Path) -> list[LabelledScene]:
    """The eo-learn example frames: one :class:`LabelledScene` per date.

    Scale: ``REFERENCE_SCENES.npy`` (dates, height, width, 13) is float32 reflectance
    (DN / 10000) in the ``sentinel2-l1c-13`` order, as the s2cloudless scene.

    Labels: algorithm (``CLM`` of ``masks_for_reference_scenes.npz``, the s2cloudless mask;
    ``IS_DATA`` 0 -> No Data). ``CLP``, the s2cloudless probability, is kept as
    ``profile["cloud_probability"]``. Frames keep the files' order, which is not by date;
    ``profile["timestamp"]`` has the date when the file records it.

    Georeferencing comes from ``bbox.geojson`` when the folder has one.
    """
    root = Path(folder)
    scenes_path = _require_file(
        root / "REFERENCE_SCENES.npy", "eo-learn frames", "pass the eolearn_frames folder"
    )
    masks_path = root / "masks_for_reference_scenes.npz"
    try:
        data = np.load(scenes_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {scenes_path} as a .npy array ({exc})") from exc
    profile_13 = get_band_profile("sentinel2-l1c-13")
    _check_shape(data, (None, None, None, len(profile_13)), scenes_path, "REFERENCE_SCENES")
    n, height, width, _ = data.shape
    arrays = _load_npz(masks_path, ("CLM", "IS_DATA"), "eo-learn masks")
    frame_shape = (n, height, width, 1)
    for key in ("CLM", "IS_DATA", "CLP"):
        if key in arrays:
            _check_shape(arrays[key], frame_shape, masks_path, key)
    _check_values(arrays["CLM"], (0, 1), masks_path, "0 (clear) and 1 (cloud) in CLM")
    timestamps = arrays.get("timestamps")
    bbox = root / "bbox.geojson"
    crs, transform = _bbox_georef(bbox, height, width) if bbox.is_file() else (None, None)

    frames = []
    for i in range(n):
        mask = np.where(arrays["CLM"][i, :, :, 0] == 1, CLOUD, CLEAR).astype(np.uint8)
        mask[arrays["IS_DATA"][i, :, :, 0] == 0] = NODATA
        stamp = str(timestamps[i]) if timestamps is not None and len(timestamps) == n else None
        profile: dict[str, Any] = {
            "crs": crs,
            "transform": transform,
            "source": str(root),
            "label_kind": "algorithm",
            "label_source": "s2cloudless CLM",
            "frame_index": i,
            "timestamp": stamp,
        }
        if "CLP" in arrays:
            profile["cloud_probability"] = _as_float32(arrays["CLP"][i, :, :, 0])
        bands = _as_float32(np.moveaxis(data[i], -1, 0))
        name = f"{root.name}/{stamp if stamp is not None else i}"
        frames.append(LabelledScene(bands, profile_13.band_names, mask, profile, name))
    return frames
