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

Like :mod:`cascade.io`, this is an I/O module and may import rasterio; ``import cascade`` does
not import it.

========================  ==================================================================
reader                    data
========================  ==================================================================
:func:`read_38cloud`      38-Cloud / 95-Cloud Landsat 8 patches, stitched into scenes
:func:`read_cloudsen12`   one CloudSEN12 sample folder (``S2L1C.tif``, ``manual_hq.tif``)
:func:`read_ukis_npz`     ukis-csmask test files (Landsat 5/7, 6 bands)
:func:`read_s2cloudless_npz`  the s2cloudless test scene (Sentinel-2, 13 bands)
:func:`read_eolearn_frames`   the eo-learn reference frames (Sentinel-2, one scene per date)
:func:`read_landsat_qa`   Landsat 8 pre-collection band files with the BQA quality band
:func:`read_pair`         any ``scene.tif`` + ``mask.tif``
:func:`read_band_folder`  an unlabelled folder of single-band files
========================  ==================================================================

:func:`read_dataset` dispatches on a name from :data:`READERS`.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine, from_bounds

from cascade.bands import BandProfile, get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.errors import CascadeError

__all__ = [
    "READERS",
    "DatasetError",
    "LabelKind",
    "LabelledScene",
    "read_38cloud",
    "read_band_folder",
    "read_cloudsen12",
    "read_dataset",
    "read_eolearn_frames",
    "read_landsat_qa",
    "read_pair",
    "read_s2cloudless_npz",
    "read_ukis_npz",
]

LabelKind = Literal["human", "algorithm", "reference"]
_LABEL_KINDS = ("human", "algorithm", "reference")


class DatasetError(CascadeError, ValueError):
    """A dataset file that is missing, malformed, or inconsistent with its companions."""


@dataclass
class LabelledScene:
    """One scene of a dataset: reflectance bands, their names, and an optional mask.

    Attributes
    ----------
    bands
        ``(n_bands, height, width)`` float32 TOA reflectance, about 0..1.5.
    band_names
        Canonical band names (those of :mod:`cascade.bands` profiles), in the order of ``bands``.
    mask
        ``(height, width)`` uint8: 0 clear, 1 cloud, 255 no data; None for unlabelled data.
    profile
        ``crs`` and ``transform`` (None when the data is not georeferenced), ``source`` (the
        file or folder read), ``label_kind`` (``"human"``, ``"algorithm"``, ``"reference"``
        or None) and reader-specific extras.
    name
        The scene's id (a 38-Cloud scene id, a file stem, a date).
    """

    bands: npt.NDArray[np.float32]
    band_names: tuple[str, ...]
    mask: npt.NDArray[np.uint8] | None
    profile: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        # Readers build these, but a wrong shape here would surface far away (in a metric or a
        # training batch), so the form is checked once, where it is made.
        b = self.bands
        if not isinstance(b, np.ndarray) or b.ndim != 3 or b.dtype != np.float32:
            got = f"{b.dtype} array of shape {b.shape}" if isinstance(b, np.ndarray) else type(b)
            raise DatasetError(
                f"scene {self.name!r}: bands is a {got}; expected a float32 array "
                "(bands, height, width); convert with .astype(np.float32) and band-first axes"
            )
        self.band_names = tuple(self.band_names)
        if len(self.band_names) != b.shape[0]:
            raise DatasetError(
                f"scene {self.name!r}: {len(self.band_names)} band names for {b.shape[0]} bands; "
                "give one name per band"
            )
        if self.mask is not None:
            m = self.mask
            if m.shape != b.shape[1:] or m.dtype != np.uint8:
                raise DatasetError(
                    f"scene {self.name!r}: mask is a {m.dtype} array of shape {m.shape}; "
                    f"expected uint8 of shape {b.shape[1:]} (the bands' height and width)"
                )
            bad = np.setdiff1d(np.unique(m), [CLEAR, CLOUD, NODATA])
            if bad.size:
                raise DatasetError(
                    f"scene {self.name!r}: mask holds values {bad.tolist()}; expected only "
                    f"{CLEAR} (clear), {CLOUD} (cloud) and {NODATA} (no data)"
                )
        for key in ("crs", "transform", "source", "label_kind"):
            self.profile.setdefault(key, None)

    @property
    def height(self) -> int:
        return int(self.bands.shape[1])

    @property
    def width(self) -> int:
        return int(self.bands.shape[2])

    def cloud_fraction(self) -> float | None:
        """Cloud pixels / labelled (clear or cloud) pixels; None if unlabelled or all No Data."""
        if self.mask is None:
            return None
        cloud = int(np.count_nonzero(self.mask == CLOUD))
        labelled = cloud + int(np.count_nonzero(self.mask == CLEAR))
        return cloud / labelled if labelled else None


# --------------------------------------------------------------------------------------------
# Shared helpers


def _require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist; {fix}")
    return path


def _open(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            # Several datasets (38-Cloud, ukis) are plain images; that is not news to the caller.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as exc:
        raise DatasetError(f"cannot read {path} as a raster ({exc}); check the file") from exc


def _georef(ds: Any) -> tuple[Any, Affine | None]:
    """The dataset's CRS and transform, None for each it lacks (rasterio's identity default)."""
    transform = ds.transform
    if ds.crs is None and transform == Affine.identity():
        transform = None
    return ds.crs, transform


def _read_band(path: Path) -> tuple[np.ndarray, Any, Affine | None]:
    """The single band of ``path`` as ``(height, width)``, with its CRS and transform."""
    with _open(path) as ds:
        if ds.count != 1:
            raise DatasetError(
                f"{path} has {ds.count} bands; expected one band per file in this layout"
            )
        data = ds.read(1)
        crs, transform = _georef(ds)
    return data, crs, transform


def _load_npz(path: Path, keys: Sequence[str], what: str) -> dict[str, np.ndarray]:
    _require_file(path, what, f"pass the path of the {what} (.npz)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path} as a .npz archive ({exc}); check the file") from exc
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks arrays {missing} (it holds {sorted(arrays)}); "
            f"expected the {what} with arrays {list(keys)}"
        )
    return arrays


def _check_shape(arr: np.ndarray, expected: tuple[int | None, ...], path: Path, key: str) -> None:
    ok = arr.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, arr.shape, strict=True)
    )
    if not ok:
        shape = "x".join("*" if e is None else str(e) for e in expected)
        raise DatasetError(
            f"{path}: array {key!r} has shape {arr.shape}; expected {shape} "
            "(* = any size); is this the right file?"
        )


def _check_values(
    values: np.ndarray, allowed: Iterable[int], path: Path | str, meaning: str
) -> None:
    bad = np.setdiff1d(np.unique(values), np.asarray(list(allowed)))
    if bad.size:
        shown = bad[:20].tolist()
        more = f" and {bad.size - 20} more" if bad.size > 20 else ""
        raise DatasetError(
            f"{path} holds label values {shown}{more}; expected only {meaning}; "
            "check that this is the right label file"
        )


def _as_float32(arr: np.ndarray) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(arr, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# 38-Cloud / 95-Cloud

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
    labelled = any("gt" in f for f in band_patches.values())

    rows = [r for r, _ in band_patches]
    cols = [c for _, c in band_patches]
    first = band_patches[min(band_patches)]["blue"]
    with _open(first) as ds:
        ph, pw = ds.height, ds.width
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


# --------------------------------------------------------------------------------------------
# CloudSEN12

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
    with _open(image_path) as ds:
        if ds.count != len(profile_13):
            raise DatasetError(
                f"{image_path} has {ds.count} bands; expected the {len(profile_13)} Sentinel-2 "
                "L1C bands B01..B12 (with B8A)"
            )
        dn = ds.read()
        crs, transform = _georef(ds)
        descriptions = ds.descriptions
    if all(descriptions):
        try:
            order = profile_13.indices_in([str(d) for d in descriptions])
        except CascadeError as exc:
            raise DatasetError(f"{image_path}: {exc}; rename the band descriptions") from None
        dn = dn[order]
    with _open(label_path) as ds:
        if ds.count != 1:
            raise DatasetError(f"{label_path} has {ds.count} bands; expected one label band")
        labels = ds.read(1)
        label_crs, label_transform = _georef(ds)
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


# --------------------------------------------------------------------------------------------
# Arrays from other packages' test data

_UKIS_BANDS = ("Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2")
_UKIS_CLOUD = 4  # classes: 0 cloud shadow, 1 water, 2 snow, 3 land, 4 cloud


def read_ukis_npz(path: str | Path) -> LabelledScene:
    """A ukis-csmask test file (``landsat7.npz``, ``landsat5.npz``).

    Scale: ``img`` (height, width, 6) is already float32 TOA reflectance; it is only moved
    band-first. Bands Blue, Green, Red, NIR, SWIR1, SWIR2. Not georeferenced.

    Labels: reference (``msk`` classes 0 cloud shadow, 1 water, 2 snow, 3 land, 4 cloud;
    cloud iff 4, everything else clear). There is no No Data class.
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


def _bbox_georef(path: Path, height: int, width: int) -> tuple[Any, Affine | None]:
    """CRS and transform from eo-learn's ``bbox.geojson`` (a polygon with a named CRS)."""
    try:
        doc = json.loads(path.read_text())
        crs = CRS.from_user_input(doc["crs"]["properties"]["name"])
        xs, ys = zip(*doc["coordinates"][0], strict=False)
    except (OSError, ValueError, KeyError, TypeError, IndexError, CRSError) as exc:
        raise DatasetError(
            f"cannot read a bounding box from {path} ({exc}); expected a GeoJSON polygon with "
            "a 'crs' member, as eo-learn writes; delete the file to read without georeferencing"
        ) from exc
    return crs, from_bounds(min(xs), min(ys), max(xs), max(ys), width, height)


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


# --------------------------------------------------------------------------------------------
# Landsat 8 with the pre-collection BQA band

_RASTERS = {".tif", ".tiff", ".jp2", ".vrt", ".img"}
_BAND_TOKEN = re.compile(r"(?:^|[_\-.])(B\d{1,2}A?|BQA)(?=$|[_\-.])", re.IGNORECASE)


def _band_token(path: Path) -> str | None:
    """``l8_B1`` -> ``B1``, ``LC8..._B10_toa`` -> ``B10``, ``l8_BQA`` -> ``BQA``."""
    match = _BAND_TOKEN.search(path.stem)
    return match.group(1).upper() if match else None


def _band_files(
    inputs: str | Path | Sequence[str | Path], what: str
) -> tuple[Path, dict[str, Path]]:
    """(where, band token -> file) from a folder or a list of files."""
    if isinstance(inputs, (str, Path)):
        root = Path(inputs)
        if not root.is_dir():
            raise DatasetError(f"{what} folder {root} does not exist; pass a folder of band files")
        files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in _RASTERS)
    else:
        files = [Path(p) for p in inputs]
        if not files:
            raise DatasetError(f"no {what} files given; pass a folder or a list of band files")
        root = files[0].parent
        for f in files:
            _require_file(f, f"{what} file", "check the list of files")
    found: dict[str, Path] = {}
    for f in files:
        token = _band_token(f)
        if token is None:
            continue
        if token in found:
            raise DatasetError(f"two files for band {token}: {found[token]} and {f}; keep one")
        found[token] = f
    return root, found


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
    root, found = _band_files(folder_or_files, "Landsat 8")
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


# --------------------------------------------------------------------------------------------
# Generic pairs and folders

_DEFAULT_MASK_VALUES: dict[str, list[int]] = {"clear": [0], "cloud": [1], "nodata": [255]}
_MASK_CODE = {"clear": CLEAR, "cloud": CLOUD, "nodata": NODATA}


def _check_pair_geometry(
    a: Path,
    a_shape: tuple[int, ...],
    a_transform: Affine | None,
    b: Path,
    b_shape: tuple[int, ...],
    b_transform: Affine | None,
) -> None:
    if tuple(a_shape) != tuple(b_shape):
        raise DatasetError(
            f"{a} is {a_shape[0]} x {a_shape[1]} pixels but {b} is {b_shape[0]} x {b_shape[1]}; "
            "they must cover the same grid (resample or crop one onto the other)"
        )
    if (
        a_transform is not None
        and b_transform is not None
        and not a_transform.almost_equals(b_transform)
    ):
        raise DatasetError(
            f"{a} and {b} have different transforms ({tuple(a_transform)[:6]} vs "
            f"{tuple(b_transform)[:6]}); they must cover the same grid (reproject one)"
        )


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
    if label_kind is not None and label_kind not in _LABEL_KINDS:
        raise DatasetError(f"label_kind={label_kind!r}; expected one of {_LABEL_KINDS} or None")
    with _open(scene_p) as ds:
        raw = ds.read()
        crs, transform = _georef(ds)
        valid = ds.dataset_mask() != 0
        descriptions = ds.descriptions
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
        mask_p = _require_file(Path(mask_path), "mask", "pass the path of the label raster")
        stored, mask_crs, mask_transform = _read_band(mask_p)
        _check_pair_geometry(
            scene_p, raw.shape[1:], transform, mask_p, stored.shape, mask_transform
        )
        if crs is not None and mask_crs is not None and crs != mask_crs:
            raise DatasetError(
                f"{scene_p} is in {crs} but {mask_p} in {mask_crs}; reproject the mask"
            )
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
    from cascade.io import InputError, open_source

    band_profile = get_band_profile(profile)
    root, found = _band_files(folder_or_files, "band")
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
    if crs is None and transform == Affine.identity():
        transform = None
    meta = {
        "crs": crs,
        "transform": transform,
        "source": str(root),
        "label_kind": None,
        "files": [str(f) for f in files],
    }
    return LabelledScene(bands, band_profile.band_names, None, meta, root.name)


# --------------------------------------------------------------------------------------------
# Registry

Reader = Callable[..., "LabelledScene | list[LabelledScene]"]

READERS: dict[str, Reader] = {
    "38cloud": read_38cloud,
    "cloudsen12": read_cloudsen12,
    "ukis": read_ukis_npz,
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
    ``"eolearn"`` returns a list of scenes, every other reader one scene.
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
