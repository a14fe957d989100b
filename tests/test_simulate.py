"""The cloud simulator: determinism, cover, labels, strips, shadows, cirrus, files, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from scipy.ndimage import binary_dilation
from skimage.morphology import disk, remove_small_holes

from cascade import CLEAR, CLOUD, NODATA, SHADOW
from cascade.bands import get_band_profile
from cascade.cli import main
from tests.conftest import SHARED_DATA
from training.render import LABEL_REFLECTANCE, SHADOW_LABEL_LIGHT
from training.simulator import (
    Background,
    CloudConfig,
    SimulationError,
    Simulator,
    default_backgrounds,
    simulate,
    write_scene,
)

PROFILE = get_band_profile("sentinel2-l1c-7")


@pytest.fixture(scope="module")
def background() -> list[Background]:
    """A smooth synthetic ground, so these tests need no shared data."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.03, 0.25, size=(len(PROFILE), 8, 8)).astype(np.float32)
    refl = np.kron(base, np.ones((32, 32), np.float32))
    refl[6] = 0.002  # B10 over ground: dark
    return [Background(refl, PROFILE.band_names, "synthetic")]


def sim(background: list[Background], size: tuple[int, int] = (400, 500), seed: int = 1, **cfg):  # type: ignore[no-untyped-def]
    return simulate(*size, config=CloudConfig(**cfg), seed=seed, backgrounds=background)


@pytest.mark.slow
def test_seeded_determinism(background: list[Background]) -> None:
    a, b = sim(background, seed=7), sim(background, seed=7)
    np.testing.assert_array_equal(a.reflectance, b.reflectance)
    np.testing.assert_array_equal(a.paper, b.paper)
    c = sim(background, seed=8)
    assert not np.array_equal(a.exact, c.exact)
    assert a.reflectance.dtype == np.float32
    assert a.reflectance.shape == (7, 400, 500)
    assert a.band_names == PROFILE.band_names


@pytest.mark.slow
@pytest.mark.parametrize("cover", [0.1, 0.4, 0.7])
def test_cover_within_tolerance(background: list[Background], cover: float) -> None:
    s = sim(background, size=(800, 800), cover=cover, scale_px=300)
    frac = (s.exact == CLOUD).mean()
    assert abs(frac - cover) < 0.05, frac
    clear = sim(background, size=(300, 300), cover=0.0, haze=0.0)
    assert (clear.exact == CLOUD).sum() == 0


@pytest.mark.slow
def test_labels_consistent_with_opacity(background: list[Background]) -> None:
    cfg = {"cover": 0.4, "scale_px": 200, "nodata_wedge": 0.1, "cirrus": 0.3}
    s = sim(background, **cfg)
    data = s.exact != NODATA
    np.testing.assert_array_equal(s.exact[data] == CLOUD, s.opacity[data] > LABEL_REFLECTANCE)
    assert ((s.paper == NODATA) == (s.exact == NODATA)).all()
    # Paper style: contains the exact labels, the thin cloud dilated, and has no small holes.
    cloud = s.paper == CLOUD
    assert cloud[s.exact == CLOUD].all()
    thin = binary_dilation(s.opacity > 0.01, structure=disk(10))
    assert cloud[thin & data].all()
    np.testing.assert_array_equal(
        remove_small_holes(cloud, max_size=2000), cloud | (s.paper == NODATA) & cloud
    )
    assert (s.paper == CLOUD).mean() > (s.exact == CLOUD).mean()


@pytest.mark.slow
def test_strips_agree_with_the_whole(background: list[Background]) -> None:
    cfg = CloudConfig(cover=0.35, scale_px=150, cirrus=0.2, nodata_wedge=0.05)
    whole = simulate(300, 420, config=cfg, seed=3, backgrounds=background)
    s = Simulator(300, 420, config=cfg, seed=3, backgrounds=background)
    parts = list(s.strips(rows=37))
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts], axis=1), whole.reflectance)
    np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), whole.exact)
    np.testing.assert_array_equal(np.concatenate([p[3] for p in parts]), whole.paper)


@pytest.mark.slow
def test_shadows_darken_the_ground(background: list[Background]) -> None:
    lit = sim(background, cover=0.4, scale_px=200, shadows=False)
    shaded = sim(background, cover=0.4, scale_px=200, shadows=True, sun_elevation_deg=30)
    ground = (shaded.opacity < 0.01) & (shaded.exact != NODATA)
    darker = shaded.reflectance[3][ground] < lit.reflectance[3][ground] - 1e-4
    assert 0.02 < darker.mean() < 0.9  # some clear ground lies in shadow, not all of it
    assert (shaded.reflectance[3][ground] <= lit.reflectance[3][ground] + 1e-6).all()


@pytest.mark.slow
def test_shadow_labels_mark_the_darkened_ground(background: list[Background]) -> None:
    """With shadow_labels the exact labels mark cloud shadow (2) where the ground keeps less
    than SHADOW_LABEL_LIGHT of its light, never on cloud; the reflectance is the same."""
    cfg = {"cover": 0.4, "scale_px": 200, "sun_elevation_deg": 30}
    plain = sim(background, **cfg)
    labelled = sim(background, **cfg, shadow_labels=True)
    np.testing.assert_array_equal(labelled.reflectance, plain.reflectance)
    shade = labelled.exact == SHADOW
    assert 0.01 < shade.mean() < 0.5
    np.testing.assert_array_equal(np.where(shade, CLEAR, labelled.exact), plain.exact)
    lit = sim(background, **cfg, shadows=False)
    left = labelled.reflectance[3] / np.maximum(lit.reflectance[3], 1e-6)
    free = shade & (labelled.opacity < 1e-5)  # no veil of cloud over the shadow
    assert free.sum() > 100
    assert (left[free] < SHADOW_LABEL_LIGHT + 1e-3).all()
    # Strips agree with the whole scene, shadow labels included.
    parts = list(
        Simulator(
            400, 500, config=CloudConfig(**cfg, shadow_labels=True), seed=1, backgrounds=background
        ).strips(rows=77)
    )
    np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), labelled.exact)


def test_cirrus_shows_in_b10(background: list[Background]) -> None:
    without = sim(background, cover=0.0, haze=0.0, cirrus=0.0)
    with_cirrus = sim(background, cover=0.0, haze=0.0, cirrus=0.6)
    b10 = PROFILE.band_names.index("B10")
    b04 = PROFILE.band_names.index("B04")
    # Over the dark B10 ground (0.002) thin cirrus multiplies the signal; in the visible it
    # adds a little to a bright ground.
    rel_b10 = with_cirrus.reflectance[b10].mean() / without.reflectance[b10].mean()
    rel_b04 = with_cirrus.reflectance[b04].mean() / without.reflectance[b04].mean()
    assert with_cirrus.reflectance[b10].mean() - without.reflectance[b10].mean() > 0.002
    assert rel_b10 > 2.0
    assert rel_b04 < 1.2


@pytest.mark.slow
def test_cloud_top_sets_the_water_vapour_bands(background: list[Background]) -> None:
    b04, b09, b10 = (PROFILE.band_names.index(b) for b in ("B04", "B09", "B10"))
    over = {}
    for top in ("low", "mid", "high"):
        s = sim(background, cover=0.5, haze=0.0, shadows=False, brightness=0.5, cloud_top=top)
        thick = s.opacity > 0.45  # the deepest cloud reflects `brightness` (0.5)
        over[top] = np.median(s.reflectance[:, thick], axis=1)
    # Real low cumulus (eo-learn's cloudy frames): B09 ~0.35-0.44 x B08, B10 ~0.002-0.005.
    assert 0.45 < over["low"][b04] < 0.6
    assert over["low"][b09] < 0.3
    assert over["low"][b10] < 0.02
    assert over["low"][b10] < over["mid"][b10] < over["high"][b10]
    assert over["low"][b09] < over["mid"][b09] < over["high"][b09]
    assert abs(over["mid"][b04] - over["high"][b04]) < 0.02  # only B09/B10 depend on the top
    with pytest.raises(SimulationError, match=r"cloud_top must be one of \['low', 'mid', 'high'\]"):
        CloudConfig(cloud_top="stratosphere")


def test_nodata_wedge(background: list[Background]) -> None:
    s = sim(background, size=(500, 500), nodata_wedge=0.12)
    nodata = s.exact == NODATA
    assert abs(nodata.mean() - 0.12) < 0.01
    assert (s.reflectance[:, nodata] == 0).all()


def test_config_and_background_errors(background: list[Background], tmp_path: Path) -> None:
    with pytest.raises(
        SimulationError, match=r"cover must be in \[0, 1\], got 1.5; scale_px must be >= 4"
    ):
        CloudConfig(cover=1.5, scale_px=1)
    with pytest.raises(SimulationError, match=r"expected the folder s2_l1c_clear_virginia there"):
        default_backgrounds("sentinel2-l1c-7", data_dir=tmp_path)
    with pytest.raises(
        SimulationError, match=r"the profile 'rgbn' needs \['Blue', 'Green', 'Red', 'NIR'\]"
    ):
        Simulator(10, 10, profile="rgbn", backgrounds=background)


@pytest.mark.slow
def test_write_scene_files(background: list[Background], tmp_path: Path) -> None:
    cfg = CloudConfig(cover=0.3, scale_px=150, nodata_wedge=0.05)
    info = write_scene(
        tmp_path, "s", 300, 260, config=cfg, seed=5, strip_rows=64, backgrounds=background
    )
    mem = simulate(300, 260, config=cfg, seed=5, backgrounds=background)
    with rasterio.open(tmp_path / "s.tif") as ds:
        assert ds.descriptions == PROFILE.band_names
        assert (ds.count, ds.dtypes[0], ds.nodata) == (7, "uint16", 0.0)
        assert ds.crs is not None
        dn = ds.read()
        assert json.loads(ds.tags()["simulation"])["seed"] == 5
    data = mem.exact != NODATA
    np.testing.assert_array_equal(
        dn[:, data], np.clip(np.rint(mem.reflectance[:, data] * 1e4), 1, 65535)
    )
    assert (dn[:, ~data] == 0).all()
    with rasterio.open(tmp_path / "s_mask.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), mem.paper)
    with rasterio.open(tmp_path / "s_mask_exact.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), mem.exact)
    assert info["exact_cloud_fraction"] == pytest.approx((mem.exact[data] == CLOUD).mean())
    with pytest.raises(OSError, match="already exists"):
        write_scene(tmp_path, "s", 300, 260, config=cfg, seed=5, backgrounds=background)


VIRGINIA = SHARED_DATA / "s2_l1c_clear_virginia"


@pytest.mark.slow
@pytest.mark.skipif(not VIRGINIA.is_dir(), reason=f"shared data folder {VIRGINIA} is absent")
def test_real_backgrounds_and_cli(tmp_path: Path) -> None:
    bgs = default_backgrounds("sentinel2-l1c-13", data_dir=SHARED_DATA)
    assert bgs[0].reflectance.shape == (13, 1933, 1933)
    assert 0.05 < float(np.median(bgs[0].reflectance[1])) < 0.2  # B02 of a clear scene
    rgbn = default_backgrounds("rgbn", data_dir=SHARED_DATA)
    assert len(rgbn) >= 2  # Virginia and at least one clear Landsat square
    assert all(b.band_names == ("Blue", "Green", "Red", "NIR") for b in rgbn)
    res = CliRunner().invoke(
        main,
        [
            "simulate",
            str(tmp_path),
            "--count",
            "2",
            "--height",
            "300",
            "--width",
            "350",
            "--cover",
            "0.4",
            "--data-dir",
            str(SHARED_DATA),
        ],
    )
    assert res.exit_code == 0, res.output
    index = json.loads((tmp_path / "index.json").read_text())
    # Named apart from the shipped models' scenes (scene_NNNNN), from a held-out seed.
    names = ["sim-sentinel2-l1c-7-seed100000-000", "sim-sentinel2-l1c-7-seed100000-001"]
    assert [Path(r["files"]["scene"]).name for r in index] == [f"{n}.tif" for n in names]
    assert "warning" not in res.output
    with rasterio.open(tmp_path / f"{names[1]}_mask.tif") as ds:
        assert ds.shape == (300, 350)
    res = CliRunner().invoke(
        main, ["simulate", str(tmp_path), "--height", "300", "--data-dir", str(SHARED_DATA)]
    )
    assert res.exit_code == 1
    assert "already exists" in res.output


def test_simulated_scene_names_and_training_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: held-out scenes are named apart from training scenes, and a run asked for
    training seeds says so (the shipped pairs no longer learn from simulated scenes: the
    first sentinel2-l1c-7 pair's seeds 0-39 stand in)."""
    from cascade.errors import SimulationError
    from training import heldout
    from training.heldout import check_held_out, scene_name, seed_of_scene

    monkeypatch.setattr(heldout, "training_seeds", lambda: {"sentinel2-l1c-7": set(range(40))})
    assert scene_name("rgbn", 100_000, 2) == "sim-rgbn-seed100000-002"
    assert seed_of_scene("sim-rgbn-seed100000-002") == 100_002
    assert seed_of_scene("scene_01005") == 1005  # how the shipped models' scenes are named
    assert seed_of_scene("ukis landsat7") is None
    check_held_out(range(100_000, 100_050))
    with pytest.raises(SimulationError, match=r"5-6 trained sentinel2-l1c-7 \(0-39\)"):
        check_held_out([5, 6, 500])
    res = CliRunner().invoke(
        main,
        ["simulate", str(tmp_path), "--seed", "39", "--count", "2", "--data-dir", str(tmp_path)],
    )
    assert "warning: these scenes use simulator seeds the shipped models were trained" in res.output
    assert "39 trained sentinel2-l1c-7" in res.output
