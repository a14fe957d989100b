"""38-Cloud / 95-Cloud Landsat 8 patches, stitched into scenes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from training.datasets.base import (
    DatasetError,
    LabelledScene,
    _check_values,
    _raster,
    _read_band,
)

__all__ = ["read_38cloud"]


_38CLOUD_FILE = re.compile(
    r"^(?P<kind>red|green|blue|nir|gt)_patch_(?P<n>\d+)_(?P<row>\d+)_by_(?P<col>\d+)_"
    r"(?P<scene>.+)\.tif$",
    re.IGNORECASE,
)
# Returned in the `rgbn` profile's order, Blue, Green, Red, NIR (OLI B2, B3, B4, B5).
_38CLOUD_BANDS = ("blue", "green", "red", "nir")


def _scan_38cloud(folder: Path) -> dict[str, dict[tuple[int, int], dict[str, Path]]]:
    """scene id -> (row, col) -> file kind -> path, over the whole tree under ``folder``."""
    scenes: dict[str, dict[tuple[int, int], dict[str, Path]]] = {}
    for path in sorted(folder.rglob("*")):
        match = _38CLOUD_FILE.match(path.name)
        if match is None or not path.is_file():
            continue  # includes truecolor_ previews, which are 8-bit renderings, not data
        row, col = int(match["row"]), int(match["col"])
        if row < 1 or col < 1:
            raise DatasetError(
                f"{path} names patch row {row}, column {col}; 38-Cloud rows and columns start at 1"
            )
        kind = match["kind"].lower()
        files = scenes.setdefault(match["scene"], {}).setdefault((row, col), {})
        if kind in files:
            raise DatasetError(
                f"two {kind} files for patch row {row}, column {col} of scene {match['scene']}: "
                f"{files[kind]} and {path}; keep one of them"
            )
        files[kind] = path
    return scenes


def read_38cloud(
    folder: str | Path,
    scene_id: str | None = None,
    *,
    extent: Literal["scene", "patches"] = "scene",
) -> LabelledScene:
    """One scene of the 38-Cloud (or 95-Cloud) dataset, its patches stitched together.

    Files are found anywhere under ``folder`` (flat, or in ``train_red/``, ``train_gt/`` ...
    sibling folders) by their 38-Cloud names: ``{red,green,blue,nir}_patch_{N}_{R}_by_{C}_
    {SCENEID}.TIF`` for the bands and ``gt_patch_{N}_{R}_by_{C}_{SCENEID}.TIF`` for the masks,
    ``R`` and ``C`` being the 1-based patch row and column. ``truecolor_`` previews are ignored.

    Scale: the band files hold raw Landsat 8 L1 DN (uint16). They are converted with the
    ``landsat8-oli`` profile's rescaling, ``DN * 2e-5 - 0.1``, *without* the sun-elevation
    correction (38-Cloud ships no metadata to do it), so the values are TOA reflectance times
    sin(sun elevation): lower than true TOA reflectance (by 13 % under a 60 degree sun, by half
    under a 30 degree one).

    Labels: human (``gt_`` files, 255 cloud / 0 clear). A scene without any ``gt_`` file (the
    38-Cloud test set) is returned unlabelled; if only some patches have one, the others are
    No Data in the mask.

    Parameters
    ----------
    folder
        Folder searched recursively for patch files.
    scene_id
        The Landsat scene id (``LC08_L1TP_...``); needed when the folder holds several scenes.
    extent
        ``"scene"``: the full patch grid, ``max(R) * patch`` by ``max(C) * patch`` pixels.
        ``"patches"``: only the rows and columns of the grid spanned by the patches present
        (one 384 x 384 patch alone gives a 384 x 384 scene).

    Returns
    -------
    LabelledScene
        Bands Blue, Green, Red, NIR (OLI B2, B3, B4, B5). Places without a patch file and
        pixels whose DN is 0 in all four bands (outside the Landsat swath) are No Data: mask
        255, bands 0. ``profile`` adds ``scene_id``, ``patch_size`` (rows, columns),
        ``patches`` (the (R, C) present), ``grid_shape`` (max R, max C) and ``origin`` (pixel
        row and column of the returned array in the full patch grid).
    """
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"38-Cloud folder {root} does not exist; pass the dataset's folder")
    if extent not in ("scene", "patches"):
        raise DatasetError(f"extent={extent!r}; expected 'scene' or 'patches'")
    scene_id, patches = _select_scene(root, scene_id)
    band_patches = _band_patches(root, scene_id, patches)
    return _stitch(root, scene_id, band_patches, extent)


def _select_scene(
    root: Path, scene_id: str | None
) -> tuple[str, dict[tuple[int, int], dict[str, Path]]]:
    """The scene to read (the only one when not named) and its patch files."""
    scenes = _scan_38cloud(root)
    if not scenes:
        raise DatasetError(
            f"{root} holds no 38-Cloud patch files (named like "
            "red_patch_1_1_by_1_LC08_L1TP_....TIF); is this the dataset's folder?"
        )
    if scene_id is None:
        if len(scenes) > 1:
            raise DatasetError(
                f"{root} holds {len(scenes)} scenes {sorted(scenes)}; choose one with scene_id="
            )
        scene_id = next(iter(scenes))
    elif scene_id not in scenes:
        raise DatasetError(
            f"scene {scene_id!r} has no patch files in {root}; it holds {sorted(scenes)}"
        )
    patches = scenes[scene_id]
    return scene_id, patches


def _band_patches(
    root: Path, scene_id: str, patches: dict[tuple[int, int], dict[str, Path]]
) -> dict[tuple[int, int], dict[str, Path]]:
    """The patches that hold band files (all four of them), by (row, column)."""
    band_patches = {}
    for (row, col), files in patches.items():
        present = [k for k in _38CLOUD_BANDS if k in files]
        if not present:
            continue  # a gt_ file alone: a label without data, as good as absent
        if len(present) < len(_38CLOUD_BANDS):
            missing = [k for k in _38CLOUD_BANDS if k not in files]
            raise DatasetError(
                f"patch row {row}, column {col} of scene {scene_id} has {present} files but no "
                f"{missing}; expected all of blue, green, red, nir (e.g. {files[present[0]]})"
            )
        band_patches[row, col] = files
    if not band_patches:
        raise DatasetError(
            f"scene {scene_id} in {root} has only gt_ mask files and no band files; "
            "add the red_, green_, blue_ and nir_ patch files"
        )
    return band_patches


def _stitch(
    root: Path,
    scene_id: str,
    band_patches: dict[tuple[int, int], dict[str, Path]],
    extent: str,
) -> LabelledScene:
    """The patches read and placed in one array (and their labels in one mask)."""
    labelled = any("gt" in f for f in band_patches.values())

    rows = [r for r, _ in band_patches]
    cols = [c for _, c in band_patches]
    first = band_patches[min(band_patches)]["blue"]
    ph, pw = _raster(first).shape
    if extent == "scene":
        r0, c0 = 1, 1
    else:
        r0, c0 = min(rows), min(cols)
    height, width = (max(rows) - r0 + 1) * ph, (max(cols) - c0 + 1) * pw
    bands = np.zeros((len(_38CLOUD_BANDS), height, width), dtype=np.float32)
    mask = np.full((height, width), NODATA, dtype=np.uint8) if labelled else None
    to_reflectance = get_band_profile("landsat8-oli").to_reflectance

    for (row, col), files in sorted(band_patches.items()):
        y, x = (row - r0) * ph, (col - c0) * pw
        dn = np.empty((len(_38CLOUD_BANDS), ph, pw), dtype=np.uint16)
        for i, kind in enumerate(_38CLOUD_BANDS):
            data, _, _ = _read_band(files[kind])
            if data.shape != (ph, pw):
                raise DatasetError(
                    f"{files[kind]} is {data.shape[0]} x {data.shape[1]} pixels; the scene's "
                    f"patches are {ph} x {pw} (as {first.name}); all patches must be one size"
                )
            if data.dtype.kind not in "ui":
                raise DatasetError(
                    f"{files[kind]} holds {data.dtype} values; 38-Cloud band patches hold "
                    "uint16 Landsat 8 DN; use read_pair for converted data"
                )
            dn[i] = data
        fill = np.all(dn == 0, axis=0)
        refl = to_reflectance(dn)
        refl[:, fill] = 0.0
        bands[:, y : y + ph, x : x + pw] = refl
        if mask is not None and "gt" in files:
            gt, _, _ = _read_band(files["gt"])
            if gt.shape != (ph, pw):
                raise DatasetError(
                    f"{files['gt']} is {gt.shape[0]} x {gt.shape[1]} pixels; expected {ph} x {pw} "
                    "like its band patches"
                )
            _check_values(gt, (0, 255), files["gt"], "0 (clear) and 255 (cloud)")
            patch_mask = np.where(gt == 255, CLOUD, CLEAR).astype(np.uint8)
            patch_mask[fill] = NODATA
            mask[y : y + ph, x : x + pw] = patch_mask

    profile: dict[str, Any] = {
        "crs": None,
        "transform": None,
        "source": str(root),
        "label_kind": "human" if labelled else None,
        "scene_id": scene_id,
        "patch_size": (ph, pw),
        "patches": sorted(band_patches),
        "grid_shape": (max(rows), max(cols)),
        "origin": ((r0 - 1) * ph, (c0 - 1) * pw),
        "scale": "landsat8-oli DN * 2e-5 - 0.1, no sun-elevation correction",
    }
    names = get_band_profile("rgbn").band_names
    return LabelledScene(bands, names, mask, profile, scene_id)
