"""Training: derived sets, bad input, and a tiny end-to-end run from scenes to a working model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from cascade.bands import get_band_profile
from training.datasets import DatasetError, LabelledScene
from training.derive import BIN_WEIGHTS, DeriveConfig, DeriveError, assign_splits, derive, open_set
from training.recipe import RecipeError, load_recipe
from training.simulator import Background, CloudConfig, write_scene

PROFILE = get_band_profile("sentinel2-l1c-7")


def _background() -> list[Background]:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.03, 0.25, size=(len(PROFILE), 8, 8)).astype(np.float32)
    return [
        Background(np.kron(base, np.ones((32, 32), np.float32)), PROFILE.band_names, "synthetic")
    ]


def _scene(name: str, h: int = 496, w: int = 496, seed: int = 0) -> LabelledScene:
    rng = np.random.default_rng(seed)
    mask = (rng.random((h, w)) < 0.3).astype(np.uint8)
    mask[:20] = 255
    bands = rng.random((len(PROFILE), h, w), dtype=np.float32)
    return LabelledScene(bands, PROFILE.band_names, mask, {}, name)


def test_derive_writes_both_sets_with_splits(tmp_path: Path) -> None:
    cfg = DeriveConfig(grid=2, fine_windows_per_scene=5, val_fraction=0.34, seed=1)
    scenes = [_scene(f"s{i}", seed=i) for i in range(3)]
    summary = derive(iter(scenes), tmp_path, cfg, scene_names=[s.name for s in scenes])
    assert summary["scenes"] == {"train": 2, "val": 1, "test": 0}
    with open_set(tmp_path / "coarse.h5", "coarse") as h5:
        assert h5["x"].shape[1:] == (64, 64, 7)
        assert h5["y"].shape[1:] == (2, 2, 4)
        assert h5["x"].shape[0] == 3 * 4  # one 2 x 2 crop per scene, four flips each
        np.testing.assert_allclose(h5["y"][:].sum(-1), 1.0)
        splits = json.loads(h5.attrs["scene_splits"])
        codes = h5["split"][:]
        assert {splits[json.loads(h5.attrs["scenes"])[i]] for i in h5["scene"][codes == 1]} == {
            "val"
        }
        # Flips: sample 1 is sample 0 mirrored left-right.
        np.testing.assert_array_equal(h5["x"][1], h5["x"][0][:, ::-1])
    with open_set(tmp_path / "fine.h5", "fine") as h5:
        assert h5["x"].shape == (15, 256, 256, 7)
        assert set(np.unique(h5["y"][:])) <= {0, 1, 255}
        assert len(h5.attrs["norm_mean"]) == 7
    assert abs(BIN_WEIGHTS.sum() - 0.998) < 1e-9  # 2 x 16.7 % + 8 x 8.3 %, as the paper
    with pytest.raises(DeriveError, match="already exists"):
        derive(iter(scenes), tmp_path, cfg)


def test_fine_sampling_follows_the_cloud_ratio_bins(tmp_path: Path) -> None:
    # A 10 x 10-cell scene whose cells have cloud ratios spread over all ten bins.
    g = 248
    mask = np.zeros((10 * g, 10 * g), np.uint8)
    rng = np.random.default_rng(0)
    for r in range(10):
        for c in range(10):
            mask[r * g : (r + 1) * g, c * g : (c + 1) * g] = rng.random((g, g)) < (c + 0.5) / 10
    scene = LabelledScene(np.zeros((1, 10 * g, 10 * g), np.float32), ("B01",), mask, {}, "bins")
    cfg = DeriveConfig(grid=10, fine_windows_per_scene=3000, val_fraction=0.0)
    derive(iter([scene]), tmp_path, cfg)
    with h5py.File(tmp_path / "fine.h5") as h5:
        ratio = h5["cloud_ratio"][:]
    share = np.bincount(np.clip((ratio * 10).astype(int), 0, 9), minlength=10) / len(ratio)
    np.testing.assert_allclose(share, BIN_WEIGHTS / BIN_WEIGHTS.sum(), atol=0.03)


def test_bad_training_input(tmp_path: Path) -> None:
    good = _scene("a")
    with pytest.raises(
        DatasetError,
        match=r"scene 'b': mask is a uint8 array of shape \(495, 496\); expected uint8 of shape \(496, 496\)",
    ):
        LabelledScene(good.bands, good.band_names, good.mask[:-1], {}, "b")
    odd = _scene("c")
    odd.mask[5, 5] = 7
    with pytest.raises(DeriveError, match=r"scene 'c': mask holds values \[7\]"):
        derive(iter([odd]), tmp_path / "2", DeriveConfig(grid=2, val_fraction=0.0))
    assert not list((tmp_path / "2").glob("*.h5*"))  # nothing half-written
    with pytest.raises(DeriveError, match="no scenes to derive from"):
        assign_splits([], DeriveConfig())
    derive(iter([_scene("only")]), tmp_path / "3", DeriveConfig(grid=2, val_fraction=0.0))
    from training.feed import indices as _indices

    with (
        h5py.File(tmp_path / "3" / "coarse.h5") as h5,
        pytest.raises(DeriveError, match=r"the val split of .* is empty"),
    ):
        _indices(h5, "val", "coarse.h5")
    with h5py.File(tmp_path / "3" / "fine.h5", "r+") as h5:
        h5.attrs["schema_version"] = 99
    with pytest.raises(
        DeriveError, match=r"schema 'cloud-cascade-fine-set' version 99; expected .* version 1"
    ):
        open_set(tmp_path / "3" / "fine.h5", "fine")
    with pytest.raises(DeriveError, match="does not exist; run `cascade train derive` first"):
        open_set(tmp_path / "none.h5", "coarse")


RECIPE = """
name = "tiny"
profile = "sentinel2-l1c-7"
seed = 3
work_dir = "run"

[data]
sources = [{ kind = "pairs", path = "sim" }]

[derive]
patch = 64      # a small window keeps this test fast; geometry as usual otherwise
margin = 4
grid = 2
fine_windows_per_scene = 6
val_fraction = 0.25

[coarse]
backbone = "resnet18"
epochs = 3
finetune_epochs = 1
steps_per_epoch = 4
batch_size = 4
optimizer = "adam"
learning_rate = 0.002
gamma = 1.0

[fine]
architecture = "Unet"
backbone = "resnet18"
epochs = 3
steps_per_epoch = 3
batch_size = 4

[threshold]
step = 0.1
"""


def test_recipe_errors(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(RECIPE.replace("grid = 2", "grid = 2\ncolour = 1"))
    with pytest.raises(RecipeError, match=r"\[derive\] has unknown key\(s\) \['colour'\]"):
        load_recipe(tmp_path / "r.toml")
    (tmp_path / "r.toml").write_text("name = 'x'\nprofile = 'sentinel2-l1c-7'\n[data]\n")
    with pytest.raises(RecipeError, match=r"\[data\] needs sources"):
        load_recipe(tmp_path / "r.toml")
    (tmp_path / "r.toml").write_text("name = [")
    with pytest.raises(RecipeError, match="is not valid TOML"):
        load_recipe(tmp_path / "r.toml")
    # epochs = 0 means "start from init_weights": without them nothing would train
    coarse0 = RECIPE.replace(
        'backbone = "resnet18"\nepochs = 3', 'backbone = "resnet18"\nepochs = 0', 1
    )
    assert coarse0 != RECIPE
    (tmp_path / "r.toml").write_text(coarse0)
    with pytest.raises(RecipeError, match=r"epochs must be >= 1, .* got epochs = 0"):
        load_recipe(tmp_path / "r.toml")
    staged = coarse0.replace("finetune_epochs = 1", 'finetune_epochs = 1\ninit_weights = "w.h5"')
    (tmp_path / "r.toml").write_text(staged)
    assert load_recipe(tmp_path / "r.toml").coarse.init_weights == "w.h5"
    (tmp_path / "r.toml").write_text(staged.replace("finetune_epochs = 1", "finetune_epochs = 0"))
    with pytest.raises(RecipeError, match=r"epochs = 0 .* needs finetune_epochs >= 1"):
        load_recipe(tmp_path / "r.toml")


@pytest.mark.slow
def test_tiny_end_to_end_training(tmp_path: Path) -> None:
    bg = _background()
    for i, cover in enumerate((0.3, 0.5, 0.15, 0.45)):
        write_scene(
            tmp_path / "sim",
            f"scene_{i}",
            496,
            496,
            seed=i,
            backgrounds=bg,
            config=CloudConfig(cover=cover, scale_px=150),
        )
    (tmp_path / "tiny.toml").write_text(RECIPE)
    runner = CliRunner()
    res = runner.invoke(
        main_cli(), ["train", "all", str(tmp_path / "tiny.toml"), str(tmp_path / "model")]
    )
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    hists = {
        n: json.loads((run / f"{n}.history.json").read_text())
        for n in ("coarse_wce", "coarse_adjacency", "fine")
    }
    for name, hist in hists.items():
        assert (run / f"{name}.history.csv").exists()
        assert all(np.isfinite(hist["epochs"]["loss"])), name
    # Both models learn: training loss from the first to the last epoch. (After a few SGD
    # steps batch norm's running statistics lag the weights, so an inference-mode comparison
    # says little; the history keeps both.)
    for name in ("coarse_wce", "fine"):
        assert hists[name]["epochs"]["loss"][-1] < hists[name]["epochs"]["loss"][0], hists[name]
    tuned = json.loads((run / "threshold.json").read_text())
    assert len(tuned["sweep"]) == 10  # 0.05, 0.15, ..., 0.95
    sidecar = json.loads((tmp_path / "model" / "fine.json").read_text())
    assert sidecar["threshold"] == tuned["threshold"]
    assert sidecar["normalization"]["scale"] == 1e-4
    assert sidecar["provenance"]["recipe"] == "tiny"
    # The exported pair runs in the engine.
    res = runner.invoke(
        main_cli(),
        [
            "mask",
            str(tmp_path / "sim" / "scene_0.tif"),
            str(tmp_path / "m.tif"),
            "--model",
            str(tmp_path / "model"),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.tif").exists()


def main_cli():  # type: ignore[no-untyped-def]
    from cascade.cli import main

    return main


def test_an_interrupted_stage_resumes_and_a_finished_one_is_kept(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    from training.recipe import FitConfig
    from training.train import _fit, _read_history_csv

    def model() -> keras.Model:
        keras.utils.set_random_seed(0)
        inp = keras.Input((8, 8, 2))
        out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inp)
        return keras.Model(inp, out)

    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 2), dtype=np.float32)
    y = (x[..., :1] > 0.5).astype(np.float32)
    train = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(4)
    val = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    cfg = FitConfig(epochs=4, batch_size=4, optimizer="adam", learning_rate=0.05, patience=10)

    class PowerCut(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                raise RuntimeError("power cut")

    def fit(m: keras.Model, fingerprint: str, *extra: Any) -> dict[str, Any]:
        return _fit(
            m, "s", tmp_path, train, val, cfg, 16, 4, "binary_crossentropy", [],
            extra_callbacks=extra, fingerprint=fingerprint,
        )  # fmt: skip

    with pytest.raises(RuntimeError, match="power cut"):
        fit(model(), "a", PowerCut())
    before = _read_history_csv(tmp_path / "s.history.csv")
    assert before["epoch"] == [0, 1]
    assert (tmp_path / "s.backup").is_dir()

    resumed_model = model()
    resumed = fit(resumed_model, "a")
    assert resumed["resumed"]
    assert _read_history_csv(tmp_path / "s.history.csv")["epoch"] == [0, 1, 2, 3]
    assert resumed["epochs"]["loss"][:2] == before["loss"]
    # It went on from the backed-up weights: epoch 3's loss is below epoch 2's, not a restart
    # from the initial loss.
    assert resumed["epochs"]["loss"][2] < resumed["initial"]["loss"]
    assert not (tmp_path / "s.backup").exists()

    # Run again with the same recipe and set: the finished stage is kept, its best weights load.
    kept_model = model()
    kept = fit(kept_model, "a")
    assert kept["reused"]
    for a, b in zip(kept_model.weights, resumed_model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Another recipe or training set starts over.
    fresh = fit(model(), "b")
    assert not fresh["resumed"]
    assert "reused" not in fresh
    assert _read_history_csv(tmp_path / "s.history.csv")["epoch"] == [0, 1, 2, 3]


@pytest.mark.slow
def test_the_paper_recipe_trains_its_fpn_seresnext50(tmp_path: Path) -> None:
    """training/recipes/paper.toml as written, its fine model trained one step (its VGG16
    coarse model builds in tests/test_models.py; coarse training is the same for every
    backbone and runs in test_tiny_end_to_end_training and the benchmark suite tests)."""
    import dataclasses

    from training.train import train_coarse, train_fine

    recipe = load_recipe(Path(__file__).parents[1] / "training" / "recipes" / "paper.toml")
    c, f = recipe.coarse, recipe.fine
    assert (c.backbone, c.loss_form, c.optimizer, c.momentum) == ("vgg16", "paper", "sgd", 0.9)
    assert (c.alpha[1], c.beta[1], c.gamma, c.epochs, c.finetune_epochs) == (2, 0.5, 1, 131, 14)
    assert (f.architecture, f.backbone, f.epochs, f.steps_per_epoch, f.batch_size) == (
        "FPN",
        "seresnext50",
        40,
        500,
        16,
    )
    scenes = [_scene(f"s{i}", seed=i) for i in range(3)]
    cfg = dataclasses.replace(recipe.derive, grid=2, fine_windows_per_scene=2, val_fraction=0.34)
    derive(iter(scenes), tmp_path, cfg, scene_names=[s.name for s in scenes])
    one = {"epochs": 1, "steps_per_epoch": 1, "validation_steps": 1, "batch_size": 2}
    short = dataclasses.replace(
        recipe,
        work_dir=tmp_path,
        coarse=dataclasses.replace(c, **one, finetune_epochs=1),
        fine=dataclasses.replace(f, **{**one, "batch_size": 1}),
    )
    fine = train_fine(short)
    assert np.isfinite(fine["epochs"]["loss"]).all()
    assert (tmp_path / "fine.final.weights.h5").exists()
    # a second stage from weights that are not there says so before it trains
    missing = dataclasses.replace(
        short, coarse=dataclasses.replace(short.coarse, epochs=0, init_weights="nowhere.h5")
    )
    with pytest.raises(RecipeError, match=r"init_weights 'nowhere.h5' \(resolved to .*\) does"):
        train_coarse(missing)


def test_the_shadow_recipe_fine_tunes_with_weighted_outputs(tmp_path: Path) -> None:
    """training/recipes/rgbn-shadow.toml's fine stage: starts from init_weights, keeps the
    normalisation of normalization_from, weighs the shadow output by alpha/beta (the paper's
    Eq. 2 per output), and tunes a shadow threshold on Biome val's shadow labels."""
    import dataclasses

    from cascade.models import build_fine_model
    from training.cross_entropy import WeightedCrossEntropy
    from training.fine_mix import (
        normalization,
        train_fine_mixed,
        tune_threshold_mixed,
        validation_images,
    )
    from training.mix import UNANNOTATED

    recipe = load_recipe(Path(__file__).parents[1] / "training" / "recipes" / "rgbn-shadow.toml")
    f = recipe.fine
    assert (f.alpha, f.beta) == ((1.0, 1.0, 1.0, 4.0), (1.0, 1.0, 1.0, 0.25))
    # Biome's patches labelled for cloud alone train no shadow, in training and validation.
    assert recipe.mix is not None
    biome = [s for s in (*recipe.mix.sources, recipe.mix.validation) if s.kind == "biome"]
    assert [s.shadow_labels for s in biome] == ["where-annotated"] * 2
    base = tmp_path / "base"
    base.mkdir()
    stats = {"mean": [0.3, 0.28, 0.28, 0.33], "std": [0.3, 0.29, 0.31, 0.31]}
    (base / "normalization.json").write_text(json.dumps(stats))
    init = base / "fine.final.weights.h5"
    model = build_fine_model(f.architecture, f.backbone, 4, 64, f.options, classes=4)
    model.save_weights(init)
    short = dataclasses.replace(
        recipe,
        work_dir=tmp_path / "work",
        mix=dataclasses.replace(recipe.mix, window=64, normalization_from=base),
        fine=dataclasses.replace(
            f,
            init_weights=str(init),
            epochs=1,
            steps_per_epoch=1,
            batch_size=2,
            schedule="constant",
        ),
    )
    mean, std = normalization(short)
    assert mean.tolist() == stats["mean"]
    assert std.tolist() == stats["std"]
    out = train_fine_mixed(short)
    assert out["init_weights"] == str(init)
    assert np.isfinite(out["epochs"]["loss"]).all()
    tuned = tune_threshold_mixed(short)
    assert 0.0 < tuned["shadow_threshold"] < 1.0
    assert tuned["shadow_best"]["threshold"] == tuned["shadow_threshold"]
    # The cloud sweep scores every labelled val pixel; the shadow sweep leaves out the clear
    # pixels of the val patches with cloud and no shadow label.
    images = validation_images(short)
    unknown = sum(int((im.labels == UNANNOTATED).sum()) for im in images)
    assert unknown > 0
    assert tuned["best"]["n_valid"] - tuned["shadow_best"]["n_valid"] == unknown
    # Eq. 2 per output: alpha 4 and beta 0.25 weigh a missed shadow 4 times a false one.
    loss = WeightedCrossEntropy(f.alpha, f.beta)
    y = np.zeros((1, 1, 1, 4), np.float32)
    y[..., 3] = 1.0
    p = np.full((1, 1, 1, 4), 0.5, np.float32)
    missed = float(loss(y, p))
    false = float(loss(1.0 - y, p))
    assert missed > false
    with pytest.raises(RecipeError, match=r"normalization_from: .* does not exist"):
        normalization(
            dataclasses.replace(
                short, mix=dataclasses.replace(short.mix, normalization_from=tmp_path / "none")
            )
        )
    with pytest.raises(RecipeError, match=r"\[fine\] alpha must hold 4 weights"):
        dataclasses.replace(f, alpha=(1.0, 2.0))
