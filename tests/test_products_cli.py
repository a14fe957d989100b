"""`cascade mask`, `cascade info` and `cascade batch` on products, with no flags.

Each product's mask (and its cloud probabilities, which show any difference in what the
models saw) must equal that of the equivalent stacked GeoTIFF a user would have made by
hand before: the bands on the 10 m grid, the product's No Data rule applied, the offset
removed or the reflectance computed, and masked with the right ``--scale``. The stacks are
built here with rasterio directly, from the arrays written into the products.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.enums import Resampling
from rasterio.warp import reproject

from cascade.cli import main
from tests import products as build
from tests.rasters import write_tif

pytestmark = pytest.mark.skipif(
    not (build.VIRGINIA.is_dir() and build.L8.is_dir()), reason="needs ../shared/data"
)

S2_PAIR = ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
S2_RGBN = ("B02", "B03", "B04", "B08")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("products-cli")


def s2_stack(s2: build.S2Product, bands: tuple[str, ...], path: Path, remove_offset: bool) -> Path:
    """The bands on the 10 m grid (bilinear, DN 0 kept out), No Data where any band is 0;
    ``remove_offset``: DN + offset as float32 (the baseline 04.00 route), else the DN."""
    grid = s2.transforms["B02"]
    dn = np.zeros((len(bands), build.S2_SIDE, build.S2_SIDE), np.uint16)
    for i, band in enumerate(bands):
        reproject(
            s2.dn[band],
            dn[i],
            src_transform=s2.transforms[band],
            src_crs=s2.crs,
            dst_transform=grid,
            dst_crs=s2.crs,
            resampling=Resampling.bilinear,
            src_nodata=0,
            dst_nodata=0,
        )
    nodata = (dn == 0).any(axis=0)
    values: np.ndarray = dn.astype(np.float32) + np.float32(s2.offset) if remove_offset else dn
    values[:, nodata] = 0
    return write_tif(path, values, crs=s2.crs, transform=grid, nodata=0, names=bands, block=256)


def landsat_stack(l8: build.LandsatProduct, path: Path) -> Path:
    """Blue, Green, Red, NIR as TOA reflectance (the USGS formula in float64), fill 0."""
    fill = (l8.qa & 1) == 1
    values = np.stack([l8.reflectance(n) for n in (2, 3, 4, 5)]).astype(np.float32)
    values[:, fill] = 0
    names = ("Blue", "Green", "Red", "NIR")
    return write_tif(path, values, crs=l8.crs, transform=l8.transform, nodata=0, names=names)


def mask(inputs: Path, out: Path, *extra: str) -> tuple[np.ndarray, np.ndarray, Any, dict, str]:
    """``cascade mask INPUTS OUT --probabilities ...``: mask, probabilities, profile, report
    and what the command printed. The coarse input is pooled from full resolution unless
    ``extra`` says otherwise, so that a product and its stack are masked alike."""
    prob = out.with_name(out.stem + "_p.tif")
    coarse = [] if "--coarse-from" in extra else ["--coarse-from", "full"]
    args = ["mask", str(inputs), str(out), "--probabilities", str(prob), *coarse, *extra]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    report = json.loads(out.with_suffix(".json").read_text())
    with rasterio.open(out) as m, rasterio.open(prob) as p:
        return m.read(1), p.read(1), m.profile, report, res.output


def assert_same_run(product: tuple, stack: tuple, model: str) -> None:
    (m1, p1, prof1, rep1, _), (m2, p2, prof2, rep2, _) = product, stack
    np.testing.assert_array_equal(m1, m2)
    # TensorFlow's float32 sums may differ in the last bits between two runs under load
    # (seen: one pixel of 246,016 off by 1.2e-6 with the suite on both cores).
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-5, equal_nan=True)
    assert prof1["crs"] == prof2["crs"]
    assert prof1["transform"] == prof2["transform"]
    assert rep1["model"]["name"] == rep2["model"]["name"] == model
    assert rep1["cells_per_class"] == rep2["cells_per_class"]


@pytest.mark.slow  # two to three runs of the shipped models
def test_sentinel2_l1c_zip_baseline_04(root: Path) -> None:
    s2 = build.make_s2(root / "l1c04", archive=True)
    got = mask(s2.path, root / "l1c04.tif")
    want = mask(
        s2_stack(s2, S2_PAIR, root / "l1c04_stack.tif", True),
        root / "l1c04_s.tif",
        "--scale",
        "1e-4",
    )
    assert_same_run(got, want, "sentinel2-l1c-7")
    m, _, profile, report, _ = got
    assert profile["crs"] == s2.crs
    assert profile["transform"] == s2.transforms["B02"]  # the granule's 10 m grid
    assert (m[build.S2_NODATA_10M] == 255).all()
    assert report["pixels"]["nodata"] == 60 * 120
    assert report["pixels"]["cloud"] > 10000
    assert report["pixels"]["clear"] > 10000
    assert report["input_scale"] == pytest.approx(1e-4)
    assert report["product"]["processing_baseline"] == "04.00"
    assert report["inputs"] == [str(s2.path)]


@pytest.mark.slow  # two to three runs of the shipped models
def test_sentinel2_l1c_baseline_03_is_the_plain_dn_route(root: Path) -> None:
    s2 = build.make_s2(root / "l1c03", baseline="03.01", offset=0, name_baseline="N0301")
    got = mask(s2.path, root / "l1c03.tif")
    want = mask(s2_stack(s2, S2_PAIR, root / "l1c03_stack.tif", False), root / "l1c03_s.tif")
    assert_same_run(got, want, "sentinel2-l1c-7")


@pytest.mark.slow  # two to three runs of the shipped models
def test_sentinel2_l2a_gets_rgbn_and_a_warning(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s2 = build.make_s2(root / "l2a", level="2A")
    got = mask(s2.path, root / "l2a.tif")
    # The command turns Python warnings into one-line log warnings (docs/engine.md, "Quiet").
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("is Level-2A: bottom-of-atmosphere reflectance" in w for w in warned), warned
    assert "model: shipped rgbn (bands Blue, Green, Red, NIR matched by name)" in got[4]
    want = mask(
        s2_stack(s2, S2_RGBN, root / "l2a_stack.tif", True), root / "l2a_s.tif", "--scale", "1e-4"
    )
    assert_same_run(got, want, "rgbn")
    # Its 10 m JPEG 2000 bands have resolution levels: by default the coarse stage reads them
    auto = mask(s2.path, root / "l2a_auto.tif", "--coarse-from", "auto")
    assert auto[3]["coarse_input"]["from"] == "overview"
    assert (auto[0] == got[0]).mean() >= 0.995
    args = ["mask", str(s2.path), str(root / "l2a_l1c.tif"), "--model", "sentinel2-l1c-7"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "is Level-2A (bottom-of-atmosphere reflectance)" in res.output
    assert "needs B01, B02, B03, B04, B08, B09, B10" in res.output
    assert "Mask the Level-1C product of this granule (S2B_MSIL1C_20220312T155659" in res.output


@pytest.mark.slow  # two to three runs of the shipped models
def test_landsat_folder_and_tar_with_mtl_txt_and_json(root: Path) -> None:
    folder = build.make_landsat(root / "l8txt")
    tar = build.make_landsat(root / "l8tar", mtl="json", archive=True)
    want = mask(landsat_stack(folder, root / "l8_stack.tif"), root / "l8_s.tif")  # rgbn: scale 1
    got = mask(folder.path, root / "l8_folder.tif")
    assert_same_run(got, want, "rgbn")
    assert_same_run(mask(tar.path, root / "l8_tar.tif"), want, "rgbn")
    m, _, profile, report, _ = got
    assert profile["transform"] == folder.transform
    np.testing.assert_array_equal(m == 255, (folder.qa & 1) == 1)
    assert report["product"]["sun_elevation"] == pytest.approx(58.74207913)


def test_a_scale_with_a_product_is_an_error(root: Path) -> None:
    l8 = build.make_landsat(root / "scale")
    res = CliRunner().invoke(
        main, ["mask", str(l8.path), str(root / "scale.tif"), "--scale", "1e-4"]
    )
    assert res.exit_code == 1
    assert "is read from its metadata in units of 1 reflectance; drop the scale" in res.output


def test_info_says_what_was_recognised_and_the_pair(root: Path) -> None:
    s2 = build.make_s2(root / "info", archive=True)
    res = CliRunner().invoke(main, ["info", str(s2.path)])
    assert res.exit_code == 0, res.output
    lines = {ln[:12].strip(): ln[13:] for ln in res.output.splitlines() if ln[:12].strip()}
    assert lines["mission"] == "Sentinel-2B MSI"
    assert lines["level"] == "Level-1C (top-of-atmosphere reflectance)"
    assert lines["baseline"] == "04.00"
    assert lines["bands"] == " ".join(build.S2_BANDS)
    assert lines["reflectance"] == "(DN - 1000) x 0.0001, every band"
    assert lines["no data"] == "DN 0 in any band"
    assert lines["grid"] == "480 x 480 px of 10 m, EPSG:32618"
    assert lines["model"].startswith("sentinel2-l1c-7 (bands B01, B02")
    l2a = build.make_s2(root / "info2a", level="2A")
    res = CliRunner().invoke(main, ["info", str(l2a.path), "--json"])
    described = json.loads(res.output)
    assert described["level"] == "Level-2A"
    assert described["model"]["name"] == "rgbn"
    assert "bottom-of-atmosphere" in described["model"]["warnings"][0]
    res = CliRunner().invoke(main, ["info", "rgbn"])  # model pairs as before
    assert res.exit_code == 0, res.output
    assert "bands        Blue, Green, Red, NIR" in res.output
