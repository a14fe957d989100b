"""Keras model builders, artifacts (save / load / compare) and the mask/info CLI on real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from cascade.cli import main
from cascade.models.artifacts import ArtifactError, ModelSpec, load_pair_specs
from tests import fakes
from tests.rasters import write_scene_tif

models = pytest.importorskip("cascade.models")

BANDS = ("B02", "B03", "B04", "B08")


@pytest.mark.parametrize(
    "backbone",
    # the paper's three coarse encoders (Table III: VGG16, ResNet-50, InceptionV3) and ours
    ["vgg16", "resnet50", "inceptionv3", "resnet18", "resnet34", "mobilenetv2", "efficientnetb0"],
)
def test_coarse_model_one_output_pixel_per_cell(backbone: str) -> None:
    m = models.build_coarse_model(backbone, bands=5)
    x = np.random.default_rng(0).random((1, 64, 96, 5), dtype=np.float32)
    y = np.asarray(m(x, training=False))
    assert y.shape == (1, 2, 3, 4)  # grid 2 x 3 from a 64 x 96 = (2 * 32) x (3 * 32) input
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("arch", "patch"), [("Unet", 64), ("FPN", 64), ("Linknet", 64), ("PSPNet", 96)]
)
def test_fine_models(arch: str, patch: int) -> None:
    m = models.build_fine_model(arch, "resnet18", bands=4, patch=patch)
    y = np.asarray(m(np.zeros((1, patch, patch, 4), np.float32), training=False))
    assert y.shape == (1, patch, patch, 3)
    assert ((y >= 0) & (y <= 1)).all()


def test_builder_errors() -> None:
    with pytest.raises(
        ArtifactError,
        match=r"PSPNet needs a window that is a multiple of 48 pixels, got patch=256; use patch=288 with margin=20",
    ):
        models.build_fine_model("PSPNet", "resnet18", 4, 256)
    with pytest.raises(ArtifactError, match=r"unknown fine architecture 'DeepLab'"):
        models.build_fine_model("DeepLab", "resnet18", 4, 256)
    with pytest.raises(ArtifactError, match=r"unknown backbone 'resnet19'"):
        models.build_coarse_model("resnet19", 4)


@pytest.fixture(scope="module")
def model_pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real model pair on disk (random weights)."""
    prov = {"recipe": "test fixture", "trained": False}
    folder = tmp_path_factory.mktemp("pair")
    return fakes.random_weight_pair(folder, BANDS, threshold=0.45, provenance=prov)


@pytest.mark.slow
def test_save_load_compare(model_pair: Path) -> None:
    specs = load_pair_specs(model_pair)
    assert specs.fine.threshold == 0.45
    assert specs.coarse.weights == "coarse.weights.h5"
    assert len(specs.coarse.weights_sha256) == 64
    x = np.random.default_rng(1).random((2, 64, 64, 4), dtype=np.float32)
    a = models.load_model(specs.coarse, model_pair)
    b = models.load_model(specs.coarse, model_pair)
    np.testing.assert_array_equal(
        np.asarray(a(x, training=False)), np.asarray(b(x, training=False))
    )
    coarse, fine, _ = models.load_predictors(model_pair, batch_size=3)
    xf = np.random.default_rng(2).random((5, 256, 256, 4), dtype=np.float32)
    whole = np.asarray(models.load_model(specs.fine, model_pair)(xf, training=False))
    np.testing.assert_allclose(fine(xf), whole, rtol=1e-5, atol=1e-6)  # batches of 3 + 2
    assert coarse(x[:1]).shape == (1, 2, 2, 4)


def test_artifact_problems_are_named(model_pair: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_pair, broken)
    with open(broken / "fine.weights.h5", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(
        ArtifactError, match=r"fine weights .* do not match the SHA-256 in fine.json"
    ):
        load_pair_specs(broken)
    data = json.loads((broken / "coarse.json").read_text())
    data["bands"] = ["B02", "B03", "B04", "B05"]
    (broken / "coarse.json").write_text(json.dumps(data))
    with pytest.raises(
        ArtifactError,
        match=r"bands differ: coarse \['B02', 'B03', 'B04', 'B05'\], fine \['B02', 'B03', 'B04', 'B08'\]",
    ):
        load_pair_specs(broken, verify_weights=False)
    data["format_version"] = 99
    (broken / "coarse.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="format_version is 99, this cloud-cascade reads 1"):
        load_pair_specs(broken)
    (broken / "coarse.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"coarse\.json is not valid JSON"):
        load_pair_specs(broken)
    (broken / "coarse.json").write_text(
        json.dumps({"role": "coarse", "bands": ["B02"], "colour": 1})
    )
    with pytest.raises(ArtifactError, match=r"unknown field\(s\) \['colour'\]"):
        load_pair_specs(broken)
    with pytest.raises(ArtifactError, match="is not a folder"):
        load_pair_specs(tmp_path / "nothing")
    spec = load_pair_specs(model_pair).fine
    with pytest.raises(ArtifactError, match="already exists"):
        models.save_model(models.build_model(spec), spec, model_pair)


@pytest.mark.slow
def test_cli_info_and_mask(model_pair: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["info", str(model_pair)])
    assert res.exit_code == 0, res.output
    assert "coarse-encoder/mobilenetv2" in res.output
    assert "threshold 0.45" in res.output
    assert "SHA-256 verified" in res.output
    assert (
        json.loads(runner.invoke(main, ["info", str(model_pair), "--json"]).output)["fine"][
            "architecture"
        ]
        == "Unet"
    )

    scene, _ = fakes.scene_with_mask(300, 520, seed=1)
    src = write_scene_tif(tmp_path / "scene.tif", scene, names=BANDS)
    out = tmp_path / "mask.tif"
    res = runner.invoke(
        main,
        [
            "mask",
            str(src),
            str(out),
            "--model",
            str(model_pair),
            "--router",
            "all",
            "--probabilities",
            str(tmp_path / "p.tif"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "fine model on 6 of 6 cells (all)" in res.output
    with rasterio.open(out) as ds:
        m = ds.read(1)
        assert set(np.unique(m)) <= {0, 1, 255}
        assert (m[(scene == 0).all(axis=0)] == 255).all()
    assert json.loads((tmp_path / "mask.json").read_text())["patches_run"] == 6
    res = runner.invoke(main, ["mask", str(src), str(out), "--model", str(model_pair)])
    assert res.exit_code == 1
    assert "already exists; pass --overwrite" in res.output
    res = runner.invoke(
        main,
        ["mask", str(tmp_path / "none.tif"), str(tmp_path / "x.tif"), "--model", str(model_pair)],
    )
    assert res.exit_code == 1
    assert "none.tif does not exist" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["info", str(tmp_path)])
    assert res.exit_code == 1
    assert "coarse.json does not exist" in res.output


def test_decoder_options_and_float16_weights(tmp_path: Path) -> None:
    spec = ModelSpec(
        role="fine",
        architecture="Unet",
        backbone="mobilenetv2",
        bands=BANDS,
        patch=64,
        options={"decoder_filters": [32, 16, 16, 8, 8]},
        weights_dtype="float16",
    )
    m = models.build_model(spec)
    small = models.count_params(m)
    assert small < models.count_params(models.build_fine_model("Unet", "mobilenetv2", 4, 64))
    written = models.save_model(m, spec, tmp_path)
    loaded = models.load_model(ModelSpec.read(tmp_path / "fine.json"), tmp_path)
    assert written.weights_dtype == "float16"
    for a, b in zip(m.weights, loaded.weights, strict=True):
        assert np.asarray(b).dtype == np.float32
        np.testing.assert_array_equal(np.asarray(a).astype(np.float16), np.asarray(b))
    with pytest.raises(ArtifactError, match=r"Unet does not take option\(s\) \['colour'\]"):
        models.build_fine_model("Unet", "mobilenetv2", 4, 64, {"colour": 1})
    with pytest.raises(ArtifactError, match="decoder_filters must be five positive integers"):
        models.build_fine_model("Unet", "mobilenetv2", 4, 64, {"decoder_filters": [8, 8]})
    with pytest.raises(ArtifactError, match=r"weights_dtype is 'int8'"):
        spec.with_updates(weights_dtype="int8")
