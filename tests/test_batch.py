"""`cascade batch` on a real Dask LocalCluster of 2 worker processes and a real tiny model pair.

One cluster and one model pair serve the whole module. Scenes are 300 x 400 px (a 2 x 2 cell
grid) and the router is ``all``, so that the fine model runs on every cell of every scene.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from cascade.batch import BatchError, BatchReport, expand_inputs, plan_scenes, run_batch
from cascade.cli import main
from cascade.engine import EngineConfig, load_cascade_model, mask_scene
from cascade.routing import route_all
from tests import fakes
from tests.rasters import write_scene_tif

# A Dask cluster of TensorFlow workers: every test here takes seconds to minutes.
pytestmark = pytest.mark.slow

models = pytest.importorskip("cascade.models")
distributed = pytest.importorskip("distributed")

BANDS = fakes.BANDS
CONFIG = EngineConfig(router="all", batch_size=4)


@dataclass(frozen=True)
class KillOnce:
    """A router that kills the worker process running it the first time (a marker file says).

    Test-only: it travels to the workers inside the EngineConfig, pickled by reference to
    this module.
    """

    marker: str

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return route_all(probabilities)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def model_pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real model pair on disk (random weights, mobilenetv2 backbones)."""
    return fakes.random_weight_pair(tmp_path_factory.mktemp("batch-model") / "tiny-pair", BANDS)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes with 1 thread each, shared by the module."""
    from cascade.batch import local_cluster

    with local_cluster(2, 1) as lc, distributed.Client(lc) as client:
        yield client


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three good scenes, a corrupt file and a scene lacking two of the model's bands."""
    folder = tmp_path_factory.mktemp("batch-scenes")
    paths = {}
    for i in range(3):
        scene, _ = fakes.scene_with_mask(300, 400, seed=20 + i)
        paths[f"scene_{i}"] = write_scene_tif(folder / f"scene_{i}.tif", scene, names=BANDS)
    paths["corrupt"] = folder / "corrupt.tif"
    paths["corrupt"].write_bytes(b"II*\x00 this is not a GeoTIFF")
    two, _ = fakes.scene_with_mask(300, 400, seed=30, bands=2)
    paths["two_bands"] = write_scene_tif(folder / "two_bands.tif", two, names=BANDS[:2])
    return paths


@pytest.fixture(scope="module")
def first_batch(
    cluster: Any,
    model_pair: Path,
    scenes: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> BatchReport:
    out = tmp_path_factory.mktemp("batch-out")
    return run_batch(
        [str(p) for p in scenes.values()], out, model_pair, config=CONFIG, scheduler=cluster
    )


@pytest.fixture
def finished(first_batch: BatchReport, tmp_path: Path) -> Path:
    """A copy of the first batch's output folder (copy2 keeps the mtimes)."""
    out = tmp_path / "out"
    shutil.copytree(first_batch.out_dir, out)
    return out


def by_name(report: BatchReport) -> dict[str, Any]:
    return {s.name: s for s in report.scenes}


def same_mask(a: np.ndarray, b: np.ndarray) -> int:
    """The same mask, up to a pixel in 10,000 (returns how many differ). A Dask worker's
    TensorFlow runs in another process with its own thread pool, and oneDNN's float sums can
    then differ in the last bits: a pixel whose probability sits on the threshold may flip
    (seen once, 1 pixel of 120,000, with the test suite on both cores)."""
    assert a.shape == b.shape
    differ = int(np.count_nonzero(a != b))
    assert differ <= a.size // 10_000, f"{differ} of {a.size} pixels differ"
    return differ


def test_every_scene_masked_as_mask_scene_does(
    first_batch: BatchReport, model_pair: Path, scenes: dict[str, Path], tmp_path: Path
) -> None:
    model = load_cascade_model(model_pair, batch_size=CONFIG.batch_size)
    results = by_name(first_batch)
    workers = set()
    for name in ("scene_0", "scene_1", "scene_2"):
        r = results[name]
        assert r.status == "ok", r
        assert (r.patches_run, r.cells, r.attempts, r.error) == (4, 4, 1, None)
        workers.add(r.worker)
        ref = tmp_path / f"{name}_mask.tif"
        mask_scene(str(scenes[name]), ref, model, config=CONFIG)
        out = Path(r.output)
        assert out == Path(first_batch.out_dir) / f"{name}_mask.tif"
        with rasterio.open(out) as a, rasterio.open(ref) as b:
            differ = same_mask(a.read(), b.read())
            assert a.tags() == b.tags()
            assert (a.crs, a.transform) == (b.crs, b.transform)
        if not differ:
            assert out.read_bytes() == ref.read_bytes()
        engine_report = json.loads(Path(r.report).read_text())
        assert engine_report["patches_run"] == 4
    assert len(workers) >= 1
    saved = json.loads((Path(first_batch.out_dir) / "batch-report.json").read_text())
    assert saved["totals"]["scenes"] == 5
    assert saved["totals"]["ok"] == 3
    assert saved["totals"]["scenes_per_hour"] > 0
    assert saved["model"]["sidecars_sha256"].keys() == {"coarse", "fine"}
    assert [s["name"] for s in saved["scenes"]] == list(scenes)  # input order


def test_bad_scenes_are_reported_and_the_others_complete(first_batch: BatchReport) -> None:
    results = by_name(first_batch)
    corrupt, two = results["corrupt"], results["two_bands"]
    assert corrupt.status == two.status == "failed"
    assert "corrupt.tif as a raster" in corrupt.error
    assert "lacks band(s) ['B04', 'B08'] that the model needs" in two.error
    assert not Path(corrupt.output).exists()
    assert not Path(two.output).exists()
    assert first_batch.totals["failed"] == 2
    assert not first_batch.ok
    leftovers = [p.name for p in Path(first_batch.out_dir).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_resumed_batch_skips_finished_scenes(
    finished: Path,
    cluster: Any,
    model_pair: Path,
    scenes: dict[str, Path],
) -> None:
    out = finished
    good = [scenes[f"scene_{i}"] for i in range(3)]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run_batch([str(p) for p in good], out, model_pair, config=CONFIG, scheduler=cluster)
    assert [s.status for s in again.scenes] == ["skipped"] * 3
    assert again.ok
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {k: v for k, v in after.items() if k != "batch-report.json"} == {
        k: v for k, v in before.items() if k != "batch-report.json"
    }
    # Another threshold: the masks differ from this run's and are left alone...
    other = EngineConfig(router="all", batch_size=4, threshold=0.3)
    differs = run_batch([str(good[0])], out, model_pair, config=other, scheduler=cluster)
    (s,) = differs.scenes
    assert s.status == "exists-differs"
    assert "differs from this run in config; left as it is (pass --overwrite" in s.error
    assert (out / "scene_0_mask.tif").stat().st_mtime_ns == before["scene_0_mask.tif"]
    # ...unless asked to replace them.
    redone = run_batch(
        [str(good[0])], out, model_pair, config=other, scheduler=cluster, overwrite=True
    )
    assert redone.scenes[0].status == "ok"
    with rasterio.open(out / "scene_0_mask.tif") as ds:
        assert json.loads(ds.tags()["config"])["threshold"] == 0.3


def test_usable_masks_written_and_made_from_existing_masks(
    finished: Path,
    cluster: Any,
    model_pair: Path,
    scenes: dict[str, Path],
    tmp_path: Path,
) -> None:
    """--valid: a finished batch rerun with it gets each usable mask from the mask on disk
    (no model run, masks untouched), then skips; a new scene gets both from one model run."""
    from cascade.engine.decide import usable_mask
    from cascade.engine.provenance import USABLE_CLASSES

    out = finished
    good = [str(scenes[f"scene_{i}"]) for i in range(2)]
    masks_before = {p.name: p.stat().st_mtime_ns for p in out.glob("*_mask.*")}
    made = run_batch(good, out, model_pair, config=CONFIG, scheduler=cluster, valid=True)
    assert [(s.status, s.patches_run) for s in made.scenes] == [("ok", None)] * 2
    assert (made.totals["ok"], made.totals["scenes_per_hour"]) == (2, 0)  # no scene masked
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_mask.*")} == masks_before
    for s in made.scenes:
        assert s.valid == str(out / f"{s.name}_valid.tif")
        with rasterio.open(s.output) as m, rasterio.open(s.valid) as v:
            np.testing.assert_array_equal(v.read(1), usable_mask(m.read(1)))
            assert v.tags() == m.tags() | {"classes": USABLE_CLASSES}
            assert (v.crs, v.transform, v.nodata) == (m.crs, m.transform, 255)
    again = run_batch(good, out, model_pair, config=CONFIG, scheduler=cluster, valid=True)
    assert [s.status for s in again.scenes] == ["skipped"] * 2
    # A usable mask from another run is left alone, as a mask would be.
    other = EngineConfig(router="all", batch_size=4, threshold=0.3)
    (out / "scene_1_valid.tif").unlink()
    redone = run_batch(
        good[1:], out, model_pair, config=other, scheduler=cluster, valid=True, overwrite=True
    )
    assert (redone.scenes[0].status, redone.scenes[0].patches_run) == ("ok", 4)
    shutil.copy(out / "scene_1_valid.tif", out / "scene_0_valid.tif")
    differs = run_batch(good[:1], out, model_pair, config=CONFIG, scheduler=cluster, valid=True)
    assert differs.scenes[0].status == "exists-differs"
    error = differs.scenes[0].error or ""
    assert "scene_0_valid.tif exists and differs from this run in inputs, config" in error
    # A scene never masked: mask and usable mask from one run.
    fresh = tmp_path / "fresh"
    new = run_batch(good[:1], fresh, model_pair, config=CONFIG, scheduler=cluster, valid=True)
    assert (new.scenes[0].status, new.scenes[0].patches_run) == ("ok", 4)
    with rasterio.open(fresh / "scene_0_mask.tif") as m, rasterio.open(new.scenes[0].valid) as v:
        np.testing.assert_array_equal(v.read(1), usable_mask(m.read(1)))


def test_resumed_batch_sees_a_changed_resampling(
    finished: Path,
    cluster: Any,
    model_pair: Path,
    scenes: dict[str, Path],
) -> None:
    """--resampling is part of a mask's provenance: a rerun with another one recomputes."""
    out = finished
    scene = [str(scenes["scene_0"])]
    with rasterio.open(out / "scene_0_mask.tif") as ds:
        assert json.loads(ds.tags()["config"])["resampling"] == "bilinear"
    same = run_batch(scene, out, model_pair, config=CONFIG, scheduler=cluster)
    assert same.scenes[0].status == "skipped"
    other = run_batch(
        scene, out, model_pair, config=CONFIG, scheduler=cluster, resampling="nearest"
    )
    (s,) = other.scenes
    assert s.status == "exists-differs"
    assert "differs from this run in config; left as it is" in (s.error or "")
    redone = run_batch(
        scene,
        out,
        model_pair,
        config=CONFIG,
        scheduler=cluster,
        resampling="nearest",
        overwrite=True,
    )
    assert redone.scenes[0].status == "ok"
    with rasterio.open(out / "scene_0_mask.tif") as ds:
        assert json.loads(ds.tags()["config"])["resampling"] == "nearest"
    again = run_batch(
        scene, out, model_pair, config=CONFIG, scheduler=cluster, resampling="nearest"
    )
    assert again.scenes[0].status == "skipped"


def test_inputs_globs_lists_and_folders(scenes: dict[str, Path], tmp_path: Path) -> None:
    folder = scenes["scene_0"].parent
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# good scenes\n{folder}/scene_0.tif\n\n{folder}/scene_?.tif\n")
    assert [p.name for p in expand_inputs(f"@{listing}")] == [f"scene_{i}.tif" for i in range(3)]
    assert expand_inputs([str(listing)]) == expand_inputs(f"@{listing}")
    bands = tmp_path / "T33UUP_20200101"
    bands.mkdir()
    scene, _ = fakes.scene_with_mask(50, 60, seed=1)
    for b, name in enumerate(BANDS):
        write_scene_tif(bands / f"T33UUP_20200101_{name}.tif", scene[b : b + 1])
    (job,) = plan_scenes([str(bands)], tmp_path / "out")
    assert (job.name, job.input) == ("T33UUP_20200101", str(bands))
    assert job.output == str(tmp_path / "out" / "T33UUP_20200101_mask.tif")
    with pytest.raises(BatchError, match=r"holds raster files that are not named as band files"):
        expand_inputs(str(folder))
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(BatchError, match=r"input list .*empty.txt lists no inputs"):
        expand_inputs(str(tmp_path / "empty.txt"))


def test_cli_argument_errors(model_pair: Path, scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    model = ["--model", str(model_pair)]
    res = runner.invoke(main, ["batch", str(tmp_path / "*.tif"), "--out-dir", "o", *model])
    assert res.exit_code == 1
    assert f"Error: no files match '{tmp_path}/*.tif'" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["batch", str(scenes["scene_0"]), *model])
    assert res.exit_code == 2
    assert "Missing option '--out-dir'" in res.output
    res = runner.invoke(main, ["batch", "--out-dir", str(tmp_path), *model])
    assert res.exit_code == 2
    assert "Missing argument 'INPUTS...'" in res.output
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(scenes["scene_0"], other / "scene_0.tif")
    res = runner.invoke(
        main,
        ["batch", str(scenes["scene_0"]), str(other / "scene_0.tif"), "--out-dir", "o", *model],
    )
    assert res.exit_code == 1
    assert (
        f"Error: inputs {scenes['scene_0']} and {other / 'scene_0.tif'} would both be written to"
        in res.output
    )
    assert "rename one of them or mask them in separate batches" in res.output
    res = runner.invoke(
        main, ["batch", str(scenes["scene_0"]), "--out-dir", str(tmp_path / "o"), "--model", "x"]
    )
    assert res.exit_code == 1
    assert "model 'x' is neither a folder nor a shipped model" in res.output
    assert not (tmp_path / "o").exists()


def test_cli_on_a_running_scheduler(
    cluster: Any, model_pair: Path, scenes: dict[str, Path], tmp_path: Path
) -> None:
    address = cluster.scheduler.address
    args = ["batch", str(scenes["scene_2"]), str(scenes["corrupt"]), "--out-dir", str(tmp_path)]
    args += ["--model", str(model_pair), "--router", "all", "--batch-size", "4"]
    args += ["--scheduler", address]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["scene", "status", "time", "patches", "attempts", "worker"]
    assert lines[1].split()[:2] == ["scene_2", "ok"]
    assert lines[2].split()[:2] == ["corrupt", "failed"]
    assert "2 scenes: 1 ok, 0 skipped, 1 failed, 0 exist and differ" in res.output
    assert "Error: 1 scene(s) failed; see" in res.output
    res = CliRunner().invoke(main, [*args[:2], *args[3:]])  # scene_2 alone: done already
    assert res.exit_code == 0, res.output
    assert "1 scene: 0 ok, 1 skipped" in res.output
    assert not (tmp_path / "scene_2_valid.tif").exists()
    res = CliRunner().invoke(main, [*args[:2], *args[3:], "--valid"])
    assert res.exit_code == 0, res.output
    assert "1 scene: 1 ok, 0 skipped" in res.output
    assert (tmp_path / "scene_2_valid.tif").is_file()


# Last: the worker that is killed comes back without the model loaded, which costs time.
def test_worker_killed_mid_scene_leaves_no_partial_output_and_is_retried(
    cluster: Any, model_pair: Path, scenes: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".scene_1_mask.tif.a1b2c3d4.tmp"  # what a worker killed while writing leaves
    stale.write_bytes(b"half a mask")
    marker = tmp_path / "killed"
    config = EngineConfig(router=KillOnce(str(marker)), batch_size=4)
    report = run_batch(
        [str(scenes["scene_1"])], out, model_pair, config=config, scheduler=cluster, retries=1
    )
    (s,) = report.scenes
    assert marker.exists(), "the hook did not run"
    with pytest.raises(ProcessLookupError):  # the worker process that ran it is gone
        os.kill(int(marker.read_text()), 0)
    assert s.status == "ok", s
    assert s.attempts == 2
    assert s.patches_run == 4
    assert sorted(p.name for p in out.iterdir()) == [
        "batch-report.json",
        "scene_1_mask.json",
        "scene_1_mask.tif",
    ]
    with rasterio.open(out / "scene_1_mask.tif") as ds:
        assert ds.read(1).shape == (300, 400)


def test_cli_products_with_no_flags_and_resumed(cluster: Any, tmp_path: Path) -> None:
    """Sentinel-2 products (a .zip of baseline 04.00, a folder of 03.01) in one batch with no
    model given: the shipped pair picked from the first, each masked as `cascade mask` would,
    and skipped when run again (their identity recorded as the product itself)."""
    from tests import products

    if not products.VIRGINIA.is_dir():
        pytest.skip("needs ../shared/data")
    zipped = products.make_s2(tmp_path / "a", archive=True).path
    safe = products.make_s2(tmp_path / "b", baseline="03.01", offset=0, name_baseline="N0301").path
    out = tmp_path / "out"
    args = ["batch", str(zipped), str(safe), "--out-dir", str(out)]
    args += ["--scheduler", cluster.scheduler.address]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "2 scenes: 2 ok, 0 skipped" in res.output
    for product in (zipped, safe):
        name = product.name.removesuffix(".zip").removesuffix(".SAFE")
        report = json.loads((out / f"{name}_mask.json").read_text())
        assert report["model"]["name"] == "sentinel2-l1c-7"
        assert report["inputs"] == [str(product)]
        single = tmp_path / f"{name}.tif"
        assert CliRunner().invoke(main, ["mask", str(product), str(single), "-q"]).exit_code == 0
        with rasterio.open(out / f"{name}_mask.tif") as a, rasterio.open(single) as b:
            same_mask(a.read(), b.read())
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "2 scenes: 0 ok, 2 skipped" in res.output
