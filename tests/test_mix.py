"""The fine model's mixed training windows: rendering, augmentation, sources, the L8 Biome
reader, composed coarse scenes and the recipe tables that drive them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cascade.bands import get_band_profile
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import ConfigError, DatasetError, RecipeError
from tests.conftest import SHARED_DATA
from tests.rasters import write_tif
from training.augment import (
    AugmentConfig,
    add_clouds,
    dihedral,
    path_reflectance,
    randomise_sensor,
    sample_window,
)
from training.mix import (
    IGNORE,
    UNANNOTATED,
    MixConfig,
    MixSource,
    fine_targets,
    normalise,
    resolve_path,
    shadow_unannotated,
    to_profile,
)
from training.render import (
    LABEL_REFLECTANCE,
    cloud_color,
    cloud_reflectance,
    composite,
    shadow_factor,
    tau_for_reflectance,
    top_shading,
)

BIOME = SHARED_DATA / "l8biome_patches"
needs_biome = pytest.mark.skipif(not BIOME.exists(), reason="l8biome_patches is absent")
RGBN_WL = np.array([485.0, 560.0, 660.0, 840.0], np.float32)


# -- rendering ------------------------------------------------------------------------------


def test_two_stream_reflectance_by_hand() -> None:
    # R = tau (1 - g) / (2 + tau (1 - g)), g = 0.85: tau = 10 -> 1.5 / 3.5.
    r = cloud_reflectance(np.array([0.0, 10.0, 1e6]))
    assert r[0] == 0.0
    assert r[1] == pytest.approx(1.5 / 3.5, rel=1e-6)
    assert r[2] == pytest.approx(1.0, abs=1e-4)
    assert cloud_reflectance(np.array([tau_for_reflectance(0.78)]))[0] == pytest.approx(0.78)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        tau_for_reflectance(1.0)


def test_composite_limits() -> None:
    ground = np.full((4, 3, 3), 0.2, np.float32)
    color = np.ones(4, np.float32)
    clear = composite(ground, np.zeros((3, 3), np.float32), color)
    np.testing.assert_allclose(clear, ground)  # no cloud: the ground
    thick = composite(ground, np.full((3, 3), 0.99, np.float32), color)
    assert thick.min() > 0.98  # an opaque cloud hides the ground
    # A thin veil (R = 0.05) over ground 0.2: 0.05 + 0.95^2 * 0.2 / (1 - 0.005).
    thin = composite(ground, np.full((3, 3), 0.05, np.float32), color)
    assert thin[0, 0, 0] == pytest.approx(0.05 + 0.9025 * 0.2 / 0.995, rel=1e-5)


def test_cloud_color_vapour_bands_follow_the_top() -> None:
    wl = np.array([443.0, 490.0, 560.0, 665.0, 833.0, 945.0, 1375.0])
    low, high = cloud_color(wl, "low"), cloud_color(wl, "high")
    np.testing.assert_allclose(low[:5], high[:5])  # the VNIR does not depend on the top
    assert low[5] < high[5]
    assert low[6] < 0.05 < 0.3 < high[6]
    with pytest.raises(ValueError, match="cloud top must be one of"):
        cloud_color(wl, "stratosphere")


def test_shading_and_shadow_ranges() -> None:
    tau = np.zeros((20, 20), np.float32)
    tau[5:15, 5:15] = 30.0
    s = top_shading(tau, 0.0, 3.0)
    assert 0.45 <= s.min() < 1.0 < s.max() <= 1.35
    np.testing.assert_allclose(top_shading(np.zeros((6, 6)), 1.0, 3.0), 1.0)
    f = shadow_factor(np.array([0.0, 100.0]), sky=0.4, path=1.0)
    np.testing.assert_allclose(f, [1.0, 0.4], atol=1e-6)


# -- augmentation ---------------------------------------------------------------------------


def test_dihedral_is_the_eight_symmetries() -> None:
    a = np.arange(9).reshape(3, 3)
    outs = {dihedral(a, op).tobytes() for op in range(8)}
    assert len(outs) == 8


def test_sample_window_sizes_labels_and_small_images(rng: np.random.Generator) -> None:
    img = rng.uniform(0.01, 0.5, (4, 40, 50)).astype(np.float32)
    lab = (rng.random((40, 50)) > 0.5).astype(np.uint8)
    cfg = AugmentConfig(zoom=(0.5, 3.0), zoom_p=1.0)
    for _ in range(10):
        x, y = sample_window(img, lab, 64, rng, cfg)
        assert x.shape == (4, 64, 64)
        assert y.shape == (64, 64)
        assert set(np.unique(y).tolist()) <= {0, 1}  # nearest-neighbour labels stay codes
    # Without zoom a window is an exact crop of some flip of the image.
    x, y = sample_window(img, lab, 32, rng, AugmentConfig(zoom_p=0.0))
    assert any((dihedral(img, op) == x[:, :1, :1]).all(axis=0).any() for op in range(8))


def test_randomise_sensor_keeps_no_data(rng: np.random.Generator) -> None:
    x = rng.uniform(0.05, 0.6, (4, 16, 16)).astype(np.float32)
    x[:, :3] = 0.0
    out = randomise_sensor(x, rng, AugmentConfig(noise_p=1.0, blur_p=1.0))
    assert (out[:, :3] == 0).all()
    assert (out[:, 3:] > 0).all()
    same = randomise_sensor(x, rng, AugmentConfig(strength=0.0))
    np.testing.assert_allclose(same[:, 3:], x[:, 3:], rtol=1e-6)


def test_augment_config_errors() -> None:
    with pytest.raises(ConfigError, match="zoom must be two positive numbers"):
        AugmentConfig(zoom=(2.0, 1.0))
    with pytest.raises(ConfigError, match=r"shadow_p must be in \[0, 1\]"):
        AugmentConfig(shadow_p=1.5)
    with pytest.raises(ConfigError, match=r"shadow_sky must be two numbers 0 < low <= high < 1"):
        AugmentConfig(shadow_sky=(0.5, 0.2))
    with pytest.raises(ConfigError, match=r"shadow_sky_exponent must be two numbers"):
        AugmentConfig(shadow_sky_exponent=(-1.0, 2.0))
    with pytest.raises(ConfigError, match=r"shadow_path must be two numbers 0 <= low"):
        AugmentConfig(shadow_path=(0.5, 1.5))


def test_rendered_shadows_leave_the_path_reflectance(rng: np.random.Generator) -> None:
    """With shadow_path, a shadow darkens only what lies above the window's dark object (the
    atmosphere's path reflectance stands in for it): a hazy blue band keeps most of its TOA
    reflectance, the NIR of vegetation loses most; without it every band loses alike."""
    lo = np.array([0.07, 0.05, 0.03, 0.15], np.float32)[:, None, None]
    ground = (lo + rng.uniform(0.0, 0.03, (4, 96, 96))).astype(np.float32)
    ground[3] += 0.2
    ground[3, :, :6] = 0.02  # a river: the scene's dark object in the NIR
    labels = np.zeros((96, 96), np.uint8)
    base = {"clear_p": 0.0, "overcast_p": 0.0, "shadow_p": 1.0, "tau_max": (60.0, 80.0)}

    def kept(**cfg: Any) -> np.ndarray:
        ratios = []
        for seed in range(4):
            x, y = add_clouds(
                ground, labels, RGBN_WL, np.random.default_rng(seed), AugmentConfig(**base, **cfg)
            )
            s = y == SHADOW
            s[:, :6] = False  # the river's NIR is its dark object: nothing to darken
            ratios.append(x[:, s] / ground[:, s])
        got = np.concatenate(ratios, axis=1)
        assert got.shape[1] > 200
        return np.median(got, axis=1)

    plain, path = kept(), kept(shadow_path=(1.0, 1.0))
    assert np.ptp(plain) < 0.02  # grey skylight: every band alike
    assert path[0] > plain[0] + 0.2  # the blue keeps its haze
    assert path[0] > path[3] + 0.2
    dark = np.percentile(ground.reshape(4, -1), 1.0, axis=1)
    np.testing.assert_allclose(path_reflectance(ground, labels == 0).ravel(), dark, rtol=1e-6)
    assert (path_reflectance(ground, labels == 1) == 0).all()


def test_rendered_shadows_darkness_and_colour(rng: np.random.Generator) -> None:
    """shadow_sky sets how much light a rendered shadow leaves; shadow_sky_exponent > 0
    darkens the NIR more than the blue (bluer skylight); the label is the same rule."""
    ground = np.full((4, 96, 96), 0.2, np.float32)
    labels = np.zeros((96, 96), np.uint8)
    base = {"clear_p": 0.0, "overcast_p": 0.0, "shadow_p": 1.0, "tau_max": (60.0, 80.0)}

    def shadowed(**cfg: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = add_clouds(
            ground, labels, RGBN_WL, np.random.default_rng(5), AugmentConfig(**base, **cfg)
        )
        return x, y == SHADOW

    light, shade = shadowed(shadow_sky=(0.55, 0.6))
    dark, shade_dark = shadowed(shadow_sky=(0.1, 0.15))
    assert (shade_dark[shade]).all()  # same draws: the darker shadow covers the lighter one
    assert shade.any()
    assert np.median(dark[0][shade] / 0.2) < np.median(light[0][shade] / 0.2) - 0.2
    coloured, shade_c = shadowed(shadow_sky=(0.3, 0.3), shadow_sky_exponent=(3.0, 3.0))
    left = coloured[:, shade_c] / 0.2  # (bands, pixels): blue, green, red, NIR
    assert np.median(left[3]) < np.median(left[0]) - 0.1


def test_add_clouds_labels_follow_the_physics(rng: np.random.Generator) -> None:
    ground = np.full((4, 96, 96), 0.08, np.float32)
    labels = np.zeros((96, 96), np.uint8)
    labels[:10] = NODATA
    ground[:, :10] = 0.0
    got_cloud = got_shadow = 0
    for k in range(8):
        # Half the layers with shadows: a shadowed ground under a cloud is darker.
        cfg = AugmentConfig(clear_p=0.0, overcast_p=0.0, shadow_p=float(k % 2))
        x, y = add_clouds(ground, labels, RGBN_WL, rng, cfg)
        assert (y[:10] == NODATA).all()
        assert (x[:, :10] == 0).all()
        cloud = y == CLOUD
        if cloud.any() and k % 2 == 0:
            # Over unshadowed ground, labelled cloud adds at least ~0.9 x the label
            # threshold to the ~0.77 of the ground it lets through: > ground + 0.025.
            assert x[0][cloud].min() > 0.08 + 0.025
        free = y == CLEAR
        # Unlabelled veils brighten the ground by less than the threshold (and its shading).
        if free.any():
            assert x[0][free].max() < 0.08 + LABEL_REFLECTANCE * 1.4
        # Shadow: the ground keeps < 75 % of its light (a thin veil above may brighten some).
        if (y == SHADOW).any():
            assert np.mean(x[0][y == SHADOW] < 0.08) > 0.9
        got_cloud += int(cloud.sum())
        got_shadow += int((y == SHADOW).sum())
    assert got_cloud > 0
    assert got_shadow > 0
    # clear_p = 1: nothing changes.
    x, y = add_clouds(ground, labels, RGBN_WL, rng, AugmentConfig(clear_p=1.0, overcast_p=0.0))
    assert x is ground
    assert y is labels


# -- sources and targets --------------------------------------------------------------------


def test_fine_targets_and_normalise() -> None:
    y = np.array([[CLEAR, CLOUD], [SHADOW, NODATA]], np.uint8)
    t = fine_targets(y)
    assert t.shape == (2, 2, 4)
    np.testing.assert_array_equal(t.sum(-1), 1.0)
    assert t[0, 1, 0] == 1
    assert t[0, 0, 1] == 1
    assert t[1, 1, 2] == 1
    assert t[1, 0, 3] == 1
    x = np.zeros((2, 2, 2), np.float32)
    x[:, 0, 0] = (0.3, 0.5)
    z = normalise(x, np.array([2.0, 4.0], np.float32), np.array([-1.0, -1.0], np.float32))
    np.testing.assert_allclose(z[0, 0], [-0.4, 1.0])
    assert (z[1] == 0).all()  # No Data -> 0, the normalised mean


def test_shadow_unannotated_images_and_their_targets() -> None:
    cloud_only = np.array([[CLEAR, CLOUD], [CLEAR, NODATA]], np.uint8)
    got = shadow_unannotated(cloud_only)
    np.testing.assert_array_equal(got, [[UNANNOTATED, CLOUD], [UNANNOTATED, NODATA]])
    # Labels with shadow, or without cloud (no cloud casts one), are taken as they are.
    with_shadow = np.array([[CLEAR, CLOUD], [SHADOW, NODATA]], np.uint8)
    assert shadow_unannotated(with_shadow) is with_shadow
    clear = np.zeros((2, 2), np.uint8)
    assert shadow_unannotated(clear) is clear
    t = fine_targets(got)
    # cloud and No Data still train; clear and shadow are skipped on the unknown pixels
    np.testing.assert_array_equal(t[0, 0], [0.0, IGNORE, 0.0, IGNORE])
    np.testing.assert_array_equal(t[0, 1], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(t[1, 1], [0.0, 0.0, 1.0, 0.0])


def test_rendered_shadow_over_unannotated_ground_is_labelled(rng: np.random.Generator) -> None:
    ground = np.full((4, 96, 96), 0.08, np.float32)
    labels = np.full((96, 96), UNANNOTATED, np.uint8)
    cfg = AugmentConfig(clear_p=0.0, overcast_p=0.0, shadow_p=1.0)
    shadow = left = 0
    for _ in range(6):
        _, y = add_clouds(ground, labels, RGBN_WL, rng, cfg)
        shadow += int((y == SHADOW).sum())
        left += int((y == UNANNOTATED).sum())
        assert set(np.unique(y)) <= {CLOUD, SHADOW, UNANNOTATED}
    assert shadow > 0
    assert left > 0


def test_faint_rendered_shadows_are_unannotated() -> None:
    """shadow_min_drop: a rendered shadow over dark water (nothing there to darken) is left
    unannotated; over bright ground it is labelled shadow; 0 labels both."""
    ground = np.full((4, 96, 96), 0.3, np.float32)
    ground[:, :, :48] = 0.01  # water: left half
    labels = np.zeros((96, 96), np.uint8)
    base = {"clear_p": 0.0, "overcast_p": 0.0, "shadow_p": 1.0, "tau_max": (60.0, 80.0)}
    totals = {}
    for drop in (0.0, 0.015):
        water = np.zeros(3, int)
        land = np.zeros(3, int)
        for seed in range(6):
            cfg = AugmentConfig(**base, shadow_min_drop=drop)
            _, y = add_clouds(ground, labels, RGBN_WL, np.random.default_rng(seed), cfg)
            for i, code in enumerate((SHADOW, UNANNOTATED, CLEAR)):
                water[i] += int((y[:, :48] == code).sum())
                land[i] += int((y[:, 48:] == code).sum())
        totals[drop] = water, land
    (w0, l0), (w1, l1) = totals[0.0], totals[0.015]
    assert w0[0] > 0  # the light rule alone labels shadow over water too
    assert w0[1] == 0
    assert w1[0] == 0  # with a drop needed, water's shadow is unannotated...
    assert w1[1] == w0[0]
    np.testing.assert_array_equal(l1, l0)  # ...and land's is shadow as before
    assert l1[0] > 0
    with pytest.raises(ConfigError, match="shadow_min_drop must be >= 0"):
        AugmentConfig(shadow_min_drop=-0.1)


def test_to_profile_synthesises_b01_and_b09(rng: np.random.Generator) -> None:
    bands = rng.uniform(0.05, 0.5, (5, 8, 8)).astype(np.float32)
    bands[:, 0, 0] = 0.0
    names = ("Blue", "Green", "Red", "NIR", "Cirrus")
    s2 = to_profile(bands, names, get_band_profile("sentinel2-l1c-7"), rng)
    assert s2.shape == (7, 8, 8)
    np.testing.assert_array_equal(s2[1:5], bands[:4])
    np.testing.assert_array_equal(s2[6], bands[4])  # cirrus is B10
    ratio = (s2[0] - 0.05) / bands[0]
    assert ((s2[0] >= 0.6 * bands[0] + 0.05) & (s2[0] <= 0.75 * bands[0] + 0.1))[1:].all()
    assert np.isfinite(ratio).any()
    assert ((s2[5] >= 0.25 * bands[3] - 1e-7) & (s2[5] <= 0.45 * bands[3] + 1e-7)).all()
    assert (s2[:, 0, 0] == 0).all()
    with pytest.raises(ValueError, match="lacks band"):
        to_profile(bands[:3], names[:3], get_band_profile("rgbn"), rng)


def test_mix_table_parsing(tmp_path: Path) -> None:
    cfg = MixConfig.from_table(
        {
            "window": 64,
            "validation": {"kind": "biome", "path": "val"},
            "sources": [{"kind": "backgrounds", "weight": 2, "clouds": 0.5}],
        },
        tmp_path,
    )
    assert cfg.window == 64
    assert cfg.validation.path == (tmp_path / "val").resolve()
    assert cfg.sources[0] == MixSource("backgrounds", None, 2.0, 0.5)
    with pytest.raises(RecipeError, match="needs validation"):
        MixConfig.from_table({"sources": []}, tmp_path)
    with pytest.raises(RecipeError, match="multiple of 32"):
        MixConfig.from_table(
            {
                "window": 50,
                "validation": {"kind": "biome", "path": "v"},
                "sources": [{"kind": "backgrounds"}],
            },
            tmp_path,
        )
    with pytest.raises(RecipeError, match="needs a path"):
        MixSource("biome")
    marked = MixConfig.from_table(
        {
            "validation": {"kind": "biome", "path": "v", "shadow_labels": "where-annotated"},
            "sources": [{"kind": "backgrounds"}],
        },
        tmp_path,
    )
    assert marked.validation.shadow_labels == "where-annotated"
    assert marked.validation.options == {}  # not passed on to the reader
    assert marked.validation.describe()["shadow_labels"] == "where-annotated"
    assert "shadow_labels" not in cfg.sources[0].describe()
    with pytest.raises(RecipeError, match=r"shadow_labels must be one of.*got 'some'"):
        MixSource("biome", tmp_path, shadow_labels="some")
    assert resolve_path("data:x/y", tmp_path).name == "y"


# -- the L8 Biome reader ------------------------------------------------------------------------


def _biome_folder(tmp_path: Path, codes: np.ndarray, bands: int = 8) -> Path:
    (tmp_path / "Images").mkdir()
    (tmp_path / "Masks").mkdir()
    img = np.full((bands, *codes.shape), 0.2, np.float32)
    write_tif(tmp_path / "Images" / "Forest_01_0001.tif", img)
    write_tif(tmp_path / "Masks" / "Forest_01_0001.tif", codes[np.newaxis])
    return tmp_path


def test_biome_reader_codes(tmp_path: Path) -> None:
    from training.datasets import read_biome_patches

    codes = np.array([[0, 64, 128], [192, 255, 128]], np.uint8)
    folder = _biome_folder(tmp_path, codes)
    (scene,) = read_biome_patches(folder)
    np.testing.assert_array_equal(scene.mask, [[NODATA, CLEAR, CLEAR], [CLOUD, CLOUD, CLEAR]])
    assert (scene.bands[:, 0, 0] == 0).all()
    assert scene.profile["biome"] == "Forest"
    (shadowed,) = read_biome_patches(folder, shadow=True)
    assert shadowed.mask[0, 1] == SHADOW
    assert scene.cloud_fraction() == pytest.approx(2 / 5)


def test_biome_reader_errors(tmp_path: Path) -> None:
    from training.datasets import read_biome_patches

    with pytest.raises(DatasetError, match="expected Images/ and Masks/"):
        read_biome_patches(tmp_path)
    folder = _biome_folder(tmp_path, np.array([[7, 128]], np.uint8))
    with pytest.raises(DatasetError, match="L8 Biome codes"):
        read_biome_patches(folder)


@needs_biome
def test_biome_real_patches() -> None:
    from training.datasets import read_biome_patches

    train = read_biome_patches(BIOME / "train", shadow=True)
    val = read_biome_patches(BIOME / "val")
    assert (len(train), len(val)) == (23, 8)
    assert all(s.bands.shape == (8, 256, 256) for s in train)
    assert sum((s.mask == SHADOW).any() for s in train) >= 4
    # Reflectance bands in 0..~1.6 at data pixels; the brightness temperature in kelvin.
    data = np.concatenate([s.bands[:7, s.mask != NODATA] for s in train], axis=1)
    assert np.percentile(data, 1) >= 0.0
    assert np.percentile(data, 99) < 1.7
    assert 180 < np.median(np.concatenate([s.bands[7].ravel() for s in train])) < 330


@needs_biome
def test_window_pool_draws_real_windows() -> None:
    from training.mix import WindowPool

    cfg = MixConfig(
        sources=(MixSource("biome", BIOME / "train", 1.0, 0.5),),
        validation=MixSource("biome", BIOME / "val"),
        window=64,
    )
    pool = WindowPool(cfg, get_band_profile("rgbn"), AugmentConfig(), seed=1)
    mean, std = pool.statistics()
    assert mean.shape == (4,)
    assert (std > 0).all()
    gain, offset = (1 / std).astype(np.float32), (-mean / std).astype(np.float32)
    x, y = next(pool.batches(3, gain, offset, seed=2))
    assert x.shape == (3, 64, 64, 4)
    assert y.shape == (3, 64, 64, 4)
    assert np.isfinite(x).all()
    assert (y.sum(-1) == 1).all()


@needs_biome
def test_composed_scenes(tmp_path: Path) -> None:
    from training.compose import composed_scenes

    names, scenes = composed_scenes(
        {"count": 3, "seed": 4, "biome": str(BIOME / "train")}, get_band_profile("rgbn"), tmp_path
    )
    got = list(scenes)
    assert (
        [s.name for s in got] == names == ["composed_4_0000", "composed_4_0001", "composed_4_0002"]
    )
    for s in got:
        assert s.bands.shape[0] == 4
        assert 3 * 248 < s.height <= 1240
        assert 3 * 248 < s.width <= 1240
        assert set(np.unique(s.mask).tolist()) <= {CLEAR, CLOUD, NODATA}
        assert (s.bands[:, s.mask == NODATA] == 0).all()
    with pytest.raises(RecipeError, match="unknown key"):
        composed_scenes({"cuont": 3}, get_band_profile("rgbn"), tmp_path)
