"""CloudSEN12: one sample folder, ``S2L1C.tif`` and its human label ``manual_hq.tif``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.errors import CascadeError
from training.datasets.base import (
    DatasetError,
    LabelledScene,
    _check_pair_geometry,
    _check_values,
    _raster,
    _require_file,
)

__all__ = ["read_cloudsen12"]


# manual_hq codes: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow.
_CLOUDSEN12_CODES = (0, 1, 2, 3)


def read_cloudsen12(
    folder: str | Path, *, thin_as_cloud: bool = True, offset: float = 0.0
) -> LabelledScene:
    """One CloudSEN12 sample: ``S2L1C.tif`` and its human label ``manual_hq.tif``.

    The label is looked for in ``folder`` and in ``folder/labels/`` (the layout of the
    distributed dataset).

    Scale: ``S2L1C.tif`` holds the 13 Sentinel-2 L1C bands as uint16 DN in the order B01..B12
    with B8A after B08 (the ``sentinel2-l1c-13`` profile order; band descriptions, when the file
    has them, are used to reorder). Reflectance = ``(DN + offset) / 10000``; pass
    ``offset=-1000`` for products of processing baseline 04.00 or later. Pixels whose DN is 0
    in every band are No Data (mask 255, bands 0).

    Labels: human (``manual_hq``: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow).
    Thick cloud is cloud; thin cloud is cloud when ``thin_as_cloud`` (else clear); clear and
    cloud shadow are clear. Shadow is clear because this project masks clouds only.

    Returns
    -------
    LabelledScene
        Bands B01..B12 (13), georeferenced as ``S2L1C.tif``; ``profile["thin_as_cloud"]``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"CloudSEN12 folder {root} does not exist; pass one sample's folder")
    image_path = _require_file(
        root / "S2L1C.tif", "CloudSEN12 image", "a CloudSEN12 sample folder holds S2L1C.tif"
    )
    label_path = next(
        (p for p in (root / "manual_hq.tif", root / "labels" / "manual_hq.tif") if p.is_file()),
        None,
    )
    if label_path is None:
        raise DatasetError(
            f"CloudSEN12 label {root / 'manual_hq.tif'} does not exist (nor in labels/); "
            "only high-quality samples have one; use read_pair for other label files"
        )
    profile_13 = get_band_profile("sentinel2-l1c-13")
    image = _raster(image_path)
    if image.count != len(profile_13):
        raise DatasetError(
            f"{image_path} has {image.count} bands; expected the {len(profile_13)} Sentinel-2 "
            "L1C bands B01..B12 (with B8A)"
        )
    dn, crs, transform = image.data, image.crs, image.transform
    if all(image.descriptions):
        try:
            order = profile_13.indices_in([str(d) for d in image.descriptions])
        except CascadeError as exc:
            raise DatasetError(f"{image_path}: {exc}; rename the band descriptions") from None
        dn = dn[order]
    label = _raster(label_path)
    if label.count != 1:
        raise DatasetError(f"{label_path} has {label.count} bands; expected one label band")
    labels, label_crs, label_transform = label.data[0], label.crs, label.transform
    _check_pair_geometry(
        image_path, dn.shape[1:], transform, label_path, labels.shape, label_transform
    )
    _check_values(labels, _CLOUDSEN12_CODES, label_path, "0 clear, 1 thick, 2 thin, 3 shadow")

    cloud_codes = [1, 2] if thin_as_cloud else [1]
    mask = np.where(np.isin(labels, cloud_codes), CLOUD, CLEAR).astype(np.uint8)
    bands = profile_13.to_reflectance(dn, offset=offset)
    fill = np.all(dn == 0, axis=0)
    mask[fill] = NODATA
    bands[:, fill] = 0.0
    profile = {
        "crs": crs if crs is not None else label_crs,
        "transform": transform if transform is not None else label_transform,
        "source": str(root),
        "label_kind": "human",
        "thin_as_cloud": thin_as_cloud,
        "scale": f"(DN + {offset:g}) / 10000",
    }
    return LabelledScene(bands, profile_13.band_names, mask, profile, root.name)
