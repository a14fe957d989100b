"""The usable-ground mask on disk: 1 usable (clear), 0 unusable (cloud or cloud shadow), 255
No Data, beside a mask (:func:`cascade.engine.mask_scene` with ``valid``) or made afterwards
from a mask file (:func:`write_usable`, what ``cascade batch --valid`` does for masks that
exist)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cascade.classes import NODATA
from cascade.engine import provenance
from cascade.engine.decide import usable_mask

__all__ = ["write_usable", "write_usable_raster"]


def write_usable(mask: str | Path, output: str | Path, *, overwrite: bool = False) -> Path:
    """Write the usable-ground mask of a mask that :func:`mask_scene` wrote: uint8, 1 usable
    (clear), 0 unusable (cloud or cloud shadow), 255 No Data, with the mask's georeferencing
    and tags (its ``classes`` tag saying so), as ``mask_scene(..., valid=...)`` writes it.

    Written atomically; an existing ``output`` needs ``overwrite``. Raises
    :class:`~cascade.errors.InputError` when ``mask`` is not a readable cascade mask.
    """
    from cascade.errors import InputError
    from cascade.io import raster

    data = raster.read_raster(mask, band=1)
    classes = data.tags.get("classes")
    if classes not in (provenance.MASK_CLASSES, provenance.MASK_CLASSES_SHADOW):
        raise InputError(
            f"{mask} is not a cloud-cascade mask: its 'classes' tag is {classes!r}, expected "
            f"{provenance.MASK_CLASSES_SHADOW!r} or {provenance.MASK_CLASSES!r}; pass the "
            "mask that `cascade mask` or `cascade batch` wrote"
        )
    # transform None: a plain image, written without georeferencing
    return write_usable_raster(
        output, usable_mask(data.data[0]), data.crs, data.transform, data.tags, overwrite=overwrite
    )


def write_usable_raster(
    path: str | Path,
    usable: np.ndarray,
    crs: Any,
    transform: Any,
    tags: dict[str, Any],
    *,
    overwrite: bool = False,
    into: Path | None = None,
) -> Path:
    """The usable-ground GeoTIFF: the mask's tags, its ``classes`` tag the usable codes."""
    from cascade.io import raster

    return raster.write_raster(
        path,
        usable,
        crs=crs,
        transform=transform,
        nodata=NODATA,
        tags=tags | {"classes": provenance.USABLE_CLASSES},
        descriptions=["usable"],
        overwrite=overwrite,
        into=into,
    )
