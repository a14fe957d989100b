"""Readers for real labelled cloud datasets, all returning a :class:`LabelledScene`.

Every reader returns band-first ``(bands, height, width)`` float32 top-of-atmosphere (TOA)
reflectance (about 0..1.5), canonical band names in the same order, and a ``(height, width)``
uint8 mask in the codes of :mod:`cascade.classes` (0 clear, 1 cloud, 255 no data), or no mask
for unlabelled data. Each reader's docstring says which scale it converts from and where its
labels come from, because a label is only as good as its source:

- ``"human"``: drawn by people (38-Cloud, CloudSEN12 ``manual_hq``);
- ``"reference"``: a curated reference set of unstated provenance (the ukis-csmask test files);
- ``"algorithm"``: another algorithm's output (s2cloudless, the Landsat BQA band). Agreement
  with these is agreement with that algorithm, not accuracy.

Rasters are read through :mod:`cascade.io.raster`. One module per dataset family:
:mod:`~training.datasets.cloud38`, :mod:`~training.datasets.cloudsen12`,
:mod:`~training.datasets.arrays` (ukis, s2cloudless, eo-learn), :mod:`~training.datasets.landsat`,
:mod:`~training.datasets.generic`; :mod:`~training.datasets.base` holds :class:`LabelledScene`.

========================  ==================================================================
reader                    data
========================  ==================================================================
:func:`read_38cloud`      38-Cloud / 95-Cloud Landsat 8 patches, stitched into scenes
:func:`read_cloudsen12`   one CloudSEN12 sample folder (``S2L1C.tif``, ``manual_hq.tif``)
:func:`read_ukis_npz`     ukis-csmask test files (Landsat 5/7, 6 bands)
:func:`read_biome_patches`    L8 Biome patches (``Images/`` + ``Masks/``, Landsat 8, human labels)
:func:`read_s2cloudless_npz`  the s2cloudless test scene (Sentinel-2, 13 bands)
:func:`read_eolearn_frames`   the eo-learn reference frames (Sentinel-2, one scene per date)
:func:`read_landsat_qa`   Landsat 8 pre-collection band files with the BQA quality band
:func:`read_pair`         any ``scene.tif`` + ``mask.tif``
:func:`read_band_folder`  an unlabelled folder of single-band files
========================  ==================================================================

:func:`read_dataset` dispatches on a name from :data:`READERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.datasets.arrays import read_eolearn_frames, read_s2cloudless_npz, read_ukis_npz
from training.datasets.base import DatasetError, LabelKind, LabelledScene
from training.datasets.biome import read_biome_patches
from training.datasets.cloud38 import read_38cloud
from training.datasets.cloudsen12 import read_cloudsen12
from training.datasets.generic import read_band_folder, read_pair
from training.datasets.landsat import read_landsat_qa

__all__ = [
    "READERS",
    "DatasetError",
    "LabelKind",
    "LabelledScene",
    "read_38cloud",
    "read_band_folder",
    "read_biome_patches",
    "read_cloudsen12",
    "read_dataset",
    "read_eolearn_frames",
    "read_landsat_qa",
    "read_pair",
    "read_s2cloudless_npz",
    "read_ukis_npz",
]

Reader = Callable[..., "LabelledScene | list[LabelledScene]"]

READERS: dict[str, Reader] = {
    "38cloud": read_38cloud,
    "cloudsen12": read_cloudsen12,
    "ukis": read_ukis_npz,
    "biome": read_biome_patches,
    "s2cloudless": read_s2cloudless_npz,
    "eolearn": read_eolearn_frames,
    "landsat-qa": read_landsat_qa,
    "pair": read_pair,
    "band-folder": read_band_folder,
}


def read_dataset(
    kind: str | Reader, path: str | Path, **kwargs: Any
) -> LabelledScene | list[LabelledScene]:
    """``READERS[kind](path, **kwargs)``; ``kind`` may also be a reader function.

    ``read_dataset("pair", "scene.tif", mask_path="mask.tif")`` reads a generic pair;
    ``"eolearn"`` and ``"biome"`` return a list of scenes, every other reader one scene.
    """
    if callable(kind):
        return kind(path, **kwargs)
    try:
        reader = READERS[kind]
    except KeyError:
        raise DatasetError(
            f"unknown dataset kind {kind!r}; expected one of {sorted(READERS)} or a reader function"
        ) from None
    return reader(path, **kwargs)
