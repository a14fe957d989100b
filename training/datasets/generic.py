"""Generic layouts: any ``scene.tif`` + ``mask.tif`` pair, an unlabelled folder of band files."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.bands import BandProfile, get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.errors import CascadeError
from training.datasets.base import (
    LABEL_KINDS,
    DatasetError,
    LabelKind,
    LabelledScene,
    _as_float32,
    _check_pair_geometry,
    _raster,
    _read_band,
    _require_file,
    band_files,
)

__all__ = ["read_band_folder", "read_pair"]


_DEFAULT_MASK_VALUES: dict[str, list[int]] = {"clear": [0], "cloud": [1], "nodata": [255]}
_MASK_CODE = {"clear": CLEAR, "cloud": CLOUD, "nodata": NODATA}


def _mask_lookup(mask_values: Mapping[str, Iterable[int]], path: Path) -> dict[int, int]:
    lookup: dict[int, int] = {}
    unknown = sorted(set(mask_values) - set(_MASK_CODE))
    if unknown:
        raise DatasetError(
            f"mask_values has keys {unknown}; expected only {sorted(_MASK_CODE)} "
            "(e.g. {'cloud': [1, 2], 'clear': [0], 'nodata': [255]})"
        )
    for cls, values in mask_values.items():
        for v in values:
            value = int(v)
            if value in lookup and lookup[value] != _MASK_CODE[cls]:
                raise DatasetError(
                    f"mask value {value} is listed under two classes in mask_values for {path}; "
                    "give each value one class"
                )
            lookup[value] = _MASK_CODE[cls]
    return lookup


def _to_reflectance(
    raw: np.ndarray,
    scale: float | str | BandProfile | None,
    offset: float | None,
    path: Path,
) -> npt.NDArray[np.float32]:
    if scale is None:
        if raw.dtype.kind != "f":
            raise DatasetError(
                f"{path} holds {raw.dtype} values and no scale was given; pass scale= (a factor, "
                "e.g. 1e-4 for Sentinel-2 L1C DN, or a band profile name such as "
                "'landsat8-oli') to convert them to reflectance"
            )
        return _as_float32(raw if offset is None else raw + offset)
    if isinstance(scale, (str, BandProfile)):
        try:
            return get_band_profile(scale).to_reflectance(raw, offset=offset)
        except CascadeError as exc:
            raise DatasetError(f"scale={scale!r}: {exc}") from None
    return ((raw.astype(np.float32) + np.float32(offset or 0.0)) * np.float32(scale)).astype(
        np.float32
    )


def _read_mask(
    mask_path: Path,
    scene_p: Path,
    image: Any,
    mask_values: Mapping[str, Iterable[int]] | None,
) -> npt.NDArray[np.uint8]:
    """The label raster of a pair in mask codes, checked against its scene ``image``."""
    crs, valid = image.crs, image.valid
    mask_p = _require_file(mask_path, "mask", "pass the path of the label raster")
    stored, mask_crs, mask_transform = _read_band(mask_p)
    _check_pair_geometry(
        scene_p, image.shape, image.transform, mask_p, stored.shape, mask_transform
    )
    if crs is not None and mask_crs is not None and crs != mask_crs:
        raise DatasetError(f"{scene_p} is in {crs} but {mask_p} in {mask_crs}; reproject the mask")
    lookup = _mask_lookup(_DEFAULT_MASK_VALUES if mask_values is None else mask_values, mask_p)
    values, inverse = np.unique(stored, return_inverse=True)
    unexpected = [v for v in values.tolist() if v not in lookup]
    if unexpected:
        raise DatasetError(
            f"{mask_p} holds values {unexpected[:20]} not covered by mask_values "
            f"{dict(mask_values or _DEFAULT_MASK_VALUES)}; add them to 'cloud', 'clear' "
            "or 'nodata'"
        )
    codes = np.array([lookup[v] for v in values.tolist()], dtype=np.uint8)
    mask = codes[inverse.reshape(stored.shape)]
    mask[~valid] = NODATA
    return mask


def read_pair(
    scene_path: str | Path,
    mask_path: str | Path | None,
    *,
    band_names: Sequence[str] | None = None,
    mask_values: Mapping[str, Iterable[int]] | None = None,
    scale: float | str | BandProfile | None = None,
    offset: float | None = None,
    label_kind: LabelKind | None = None,
) -> LabelledScene:
    """A multi-band ``scene.tif`` and a single-band ``mask.tif`` on the same grid.

    Parameters
    ----------
    scene_path
        The image, ``(bands, height, width)``.
    mask_path
        Its label, one band, same size (and same transform when both are georeferenced);
        None for an unlabelled scene.
    band_names
        One name per band; by default the file's band descriptions, or ``band_1``,
        ``band_2`` ... when it has none (no band profile matches those: name the bands).
    mask_values
        Which stored values mean ``"cloud"``, ``"clear"`` and ``"nodata"``, e.g.
        ``{"cloud": [1, 2], "clear": [0], "nodata": [255]}``. Default: 0 clear, 1 cloud,
        255 no data. A value the mapping does not cover is an error.
    scale, offset
        Scale: the stored values are converted as ``(value + offset) * scale``; ``scale`` may
        be a factor or a band profile (name) whose factors are used. Without ``scale`` float
        data is taken to be reflectance already and integer data is an error.
    label_kind
        ``"human"``, ``"algorithm"`` or ``"reference"``, recorded in ``profile``.

    Pixels the scene marks as No Data (its nodata value or mask band, in all bands) are No
    Data in the mask and 0 in the bands.
    """
    scene_p = _require_file(Path(scene_path), "scene", "pass the path of the image")
    if label_kind is not None and label_kind not in LABEL_KINDS:
        raise DatasetError(f"label_kind={label_kind!r}; expected one of {LABEL_KINDS} or None")
    image = _raster(scene_p)
    raw, crs, transform, valid = image.data, image.crs, image.transform, image.valid
    descriptions = image.descriptions
    if band_names is not None:
        names = tuple(str(n) for n in band_names)
        if len(names) != raw.shape[0]:
            raise DatasetError(
                f"{len(names)} band_names {list(names)} for {scene_p}, which has "
                f"{raw.shape[0]} bands; give one name per band"
            )
    elif all(descriptions):
        names = tuple(str(d) for d in descriptions)
    else:
        names = tuple(f"band_{i}" for i in range(1, raw.shape[0] + 1))
    bands = _to_reflectance(raw, scale, offset, scene_p)
    bands[:, ~valid] = 0.0

    mask = None
    if mask_path is not None:
        mask = _read_mask(Path(mask_path), scene_p, image, mask_values)
    profile = {
        "crs": crs,
        "transform": transform,
        "source": str(scene_p),
        "label_kind": label_kind,
        "mask_source": None if mask_path is None else str(mask_path),
    }
    return LabelledScene(bands, names, mask, profile, scene_p.stem)


def read_band_folder(
    folder_or_files: str | Path | Sequence[str | Path],
    profile: str | BandProfile,
    *,
    scale: float | str | BandProfile | None = None,
    offset: float | None = None,
    resampling: str = "bilinear",
) -> LabelledScene:
    """An unlabelled folder (or list) of single-band files, the ``profile``'s bands only.

    Files are matched to the profile's bands by the band token in their names (``B01.tif``,
    ``..._B8A.jp2``, ``LC8..._B1_toa.tif``) or by band alias; other files (thermal bands,
    quality bands) are ignored. Bands coarser than the finest one are resampled onto its grid
    with ``resampling`` (through :func:`cascade.io.open_source`).

    Scale: float data is taken as reflectance; integer data is converted with the profile's
    factors (``sentinel2-l1c-13``: DN / 10000; ``landsat8-oli``: DN * 2e-5 - 0.1, no
    sun-elevation correction; an error for a profile without any, such as ``rgbn``), unless
    ``scale``/``offset`` say otherwise (see
    :func:`read_pair`). NaN becomes 0, the value the other readers use for No Data.

    Labels: none (``mask`` is None).
    """
    from cascade.io.raster import InputError, georef_or_none, open_source

    band_profile = get_band_profile(profile)
    root, found = band_files(folder_or_files, "band")
    tokens = list(found)
    try:
        order = band_profile.indices_in(tokens)
    except CascadeError:
        missing = [b.name for b in band_profile.bands if not any(b.matches(t) for t in tokens)]
        raise DatasetError(
            f"bands {missing} of profile {band_profile.name!r} not found in {root} (found "
            f"{sorted(tokens)}); add their files or choose another profile"
        ) from None
    files = [found[tokens[i]] for i in order]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no CRS": reported in profile
            with open_source(files, resampling=resampling) as src:
                raw = src.read(list(range(len(files))), 0, src.height)
                crs, transform = src.crs, src.transform
    except InputError as exc:
        raise DatasetError(f"cannot read the band files of {root}: {exc}") from exc
    if scale is None and raw.dtype.kind != "f":
        if band_profile.scale == 1.0 and band_profile.offset == 0.0:
            # A profile of reflectances (rgbn) has no DN factors: DN would pass as reflectance.
            raise DatasetError(
                f"the band files in {root} hold {raw.dtype} values and profile "
                f"{band_profile.name!r} has no DN scale; pass scale= (e.g. 1e-4 for Sentinel-2 "
                "L1C DN, or 'landsat8-oli')"
            )
        scale = band_profile
    bands = _to_reflectance(raw, scale, offset, root)
    np.nan_to_num(bands, copy=False, nan=0.0)
    transform = georef_or_none(crs, transform)
    meta = {
        "crs": crs,
        "transform": transform,
        "source": str(root),
        "label_kind": None,
        "files": [str(f) for f in files],
    }
    return LabelledScene(bands, band_profile.band_names, None, meta, root.name)
