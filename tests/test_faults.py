"""The fault suite: bad inputs and faults against ``cascade mask`` and ``cascade batch``.

Each case asserts the exit code, the message and the files left on disk, through the checks
of :mod:`tests.faults` that also count what they find (``pytest`` prints the counts at the
end: cases, silent wrong results, lost files, tracebacks). Models are stand-ins (no
TensorFlow): the band-0 pair of :mod:`tests.fault_runner`, which reproduces the known mask of
:func:`tests.fakes.scene_with_mask` scenes exactly, so any wrong pixel is the engine's.

- scene shapes, thin edge cells and 1-pixel scenes (parametrised and property-based);
- non-finite values in every position, float dtype and kind, declared nodata or not;
- output paths that collide, every pair (and the input), by name, symlink or hard link;
- unit traps: values implausible for the model's input scale;
- in ``tests/test_faults_writes.py``: a write failure injected at every output and at the
  commit, with and without old outputs; SIGINT, SIGTERM, SIGHUP and SIGKILL at each stage of
  a real process; each followed by a rerun.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cascade import CLEAR, CLOUD, NODATA, InputArrayError, SceneGeometry
from cascade.cli import main
from cascade.engine import EngineConfig, mask_array
from tests import fakes, faults
from tests.fault_runner import stand_in_model
from tests.rasters import write_scene_tif

H, W = 300, 400  # a 2 x 2 grid whose last cell row is thin (52 of 248 rows)


# -- scene shapes and thin edge cells ----------------------------------------------------------

SHAPES = [(1, 1), (1, 300), (10, 300), (300, 10), (260, 600), (600, 260), (248, 248)]
SHAPES += [(249, 249), (497, 64), (64, 497)]


def _uniform(height: int, width: int, value: int) -> np.ndarray:
    scene = np.full((len(fakes.BANDS), height, width), 1500, np.uint16)
    scene[0] = value
    return scene


def _thin_cells(g: SceneGeometry) -> int:
    share_r = np.minimum(g.height - np.arange(g.rows) * g.core, g.core) / g.core
    share_c = np.minimum(g.width - np.arange(g.cols) * g.core, g.core) / g.core
    return int((np.outer(share_r, share_c) < 0.5).sum())


@pytest.mark.parametrize(("height", "width"), SHAPES)
@pytest.mark.parametrize("kind", ["clear", "cloud"])
def test_shapes_and_thin_edge_cells(height: int, width: int, kind: str) -> None:
    """A coarse model fooled by padding (as the shipped one is) cannot make thin cells wrong."""
    value, expected = (fakes.CLEAR_VALUE, CLEAR) if kind == "clear" else (fakes.CLOUD_VALUE, CLOUD)
    scene = _uniform(height, width, value)
    model = stand_in_model(coarse=fakes.padding_fooled_coarse())
    res = mask_array(scene, model, band_names=fakes.BANDS, nodata=0)
    faults.mask_right(res.mask, np.full((height, width), expected, np.uint8))
    g = SceneGeometry(height, width)
    assert res.report["routed_by"]["thin_cells"] == _thin_cells(g)  # the coarse model said Overcast
    patch_baseline = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(router="all")
    )
    np.testing.assert_array_equal(res.mask, patch_baseline.mask)
    coarse_only = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(router="none")
    )
    assert coarse_only.report["patches_run"] == 0  # `none` stays coarse only


@settings(max_examples=25)
@given(height=st.integers(1, 620), width=st.integers(1, 620), seed=st.integers(0, 99))
def test_any_shape_gives_the_known_mask(height: int, width: int, seed: int) -> None:
    scene, truth = fakes.scene_with_mask(height, width, seed=seed)
    model = stand_in_model(coarse=fakes.padding_fooled_coarse())
    res = mask_array(scene, model, band_names=fakes.BANDS, nodata=0)
    faults.mask_right(res.mask, truth)


# -- non-finite values --------------------------------------------------------------------------

POSITIONS = {"first": (0, 0), "last": (H - 1, W - 1), "middle": (H // 2, W // 3)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "+inf"), (-np.inf, "-inf")])
@pytest.mark.parametrize("where", sorted(POSITIONS))
def test_non_finite_data_pixel_is_refused(dtype: str, value: float, kind: str, where: str) -> None:
    data, _ = fakes.scene_with_mask(H, W, seed=3)
    scene = data.astype(dtype)
    row, col = POSITIONS[where]
    scene[2, row, col] = value
    calls: list[Any] = []
    model = stand_in_model(fire=calls.append)
    message = (
        rf"scene has \{kind} values" if kind != "NaN" else "scene has NaN values"
    ) + rf" in 1 data pixel\(s\), first at row {row}, column {col} \(band 3\)"
    for nodata in (0.0, None, float("nan")):
        with pytest.raises(InputArrayError, match=message):
            mask_array(scene, model, band_names=fakes.BANDS, nodata=nodata)
    assert calls == []  # refused before any model ran
    faults.refused_loudly()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_declared_nodata_is_no_data(value: float) -> None:
    data, truth = fakes.scene_with_mask(H, W, seed=4)
    scene = data.astype(np.float32)
    scene[:, truth == NODATA] = value
    res = mask_array(scene, stand_in_model(), band_names=fakes.BANDS, nodata=value)
    faults.mask_right(res.mask, truth)


@pytest.mark.parametrize(("value", "kind"), [(np.inf, r"\+inf"), (np.nan, "NaN")])
def test_non_finite_pixel_on_the_command_line(
    value: float, kind: str, tmp_path: Path, stand_in_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = fakes.scene_with_mask(H, W, seed=5)
    scene = data.astype(np.float32)
    scene[:, 200, 100] = value
    path = write_scene_tif(tmp_path / "f.tif", scene, names=fakes.BANDS, nodata=0)
    out = tmp_path / "out"
    out.mkdir()
    res = faults.run_cli(["mask", path, out / "m.tif", "--model", stand_in_dir], monkeypatch)
    assert res.exit_code == 1
    assert f"Error: scene has {kind.strip(chr(92))} values in 1 data pixel(s)" in res.output
    assert "first at row 200, column 100" in res.output
    faults.no_traceback(res.output)
    faults.files_are(out, {})


# -- output paths that collide ------------------------------------------------------------------

ROLES = {
    "input": None,
    "output": None,
    "probabilities": "--probabilities",
    "coarse_grid": "--coarse-grid",
    "report": "--report",
    "quicklook": "--quicklook",
}
NAMES = {"input": "the input", "output": "OUTPUT", "report": "--report"}
PAIRS = [(a, b) for i, a in enumerate(ROLES) for b in list(ROLES)[i + 1 :]]


def _label(role: str) -> str:
    return NAMES.get(role) or str(ROLES[role])


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_colliding_outputs_are_refused_before_any_work(
    first: str, second: str, fault_scene: Any, stand_in_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = fault_scene
    folder = path.parent
    paths = {role: folder / f"{role}.out" for role in ROLES}
    paths["input"] = path
    paths[second] = paths[first]  # the clash
    args = ["mask", paths["input"], paths["output"], "--model", stand_in_dir, "--overwrite"]
    for role, option in ROLES.items():
        if option:
            args += [option, paths[role]]
    before = faults.snapshot(folder)
    res = faults.run_cli(args, monkeypatch)
    assert res.exit_code == 1, res.output
    if first == "input":
        assert f"{_label(second)} {path} is the input {path}" in res.output
    else:
        assert f"{_label(first)} {paths[first]} and {_label(second)}" in res.output
        assert "are the same file" in res.output
    assert res.loads == []  # found before the model loads
    faults.no_traceback(res.output)
    faults.files_are(folder, before)


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_linked_to_the_input_is_refused(
    link: str, fault_scene: Any, stand_in_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = fault_scene
    alias = path.parent / "alias.tif"
    (os.symlink if link == "symlink" else os.link)(path, alias)
    before = faults.snapshot(path.parent)
    res = faults.run_cli(["mask", path, alias, "--model", stand_in_dir, "--overwrite"], monkeypatch)
    assert res.exit_code == 1
    assert f"Error: OUTPUT {alias} is the input {path}" in res.output
    faults.files_are(path.parent, before)


def test_batch_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    data, _ = fakes.scene_with_mask(H, W, seed=9)
    a = write_scene_tif(tmp_path / "scenes" / "a.tif", data, names=fakes.BANDS)
    b = write_scene_tif(tmp_path / "scenes" / "b.tif", data, names=fakes.BANDS)
    out = tmp_path / "out"
    out.mkdir()
    os.link(b, out / "a_mask.tif")  # scene a's mask would be scene b's file
    before = faults.snapshot(tmp_path)
    res = CliRunner().invoke(main, ["batch", str(a), str(b), "--out-dir", str(out), "--overwrite"])
    assert res.exit_code == 1
    assert f"Error: the mask of a {out / 'a_mask.tif'} is the input {b}" in res.output
    faults.no_traceback(res.output)
    faults.files_are(tmp_path, before)


# -- unit traps -------------------------------------------------------------------------------


def _reflectance_model() -> Any:
    from cascade.engine import CascadeModel
    from cascade.models.artifacts import Normalization

    c, f = fakes.specs()
    norm = Normalization(scale=1.0)
    base = stand_in_model()
    return CascadeModel(
        base.coarse,
        base.fine,
        c.with_updates(normalization=norm),
        f.with_updates(normalization=norm),
    )


def _trap_scene(kind: str) -> np.ndarray:
    data, _ = fakes.scene_with_mask(H, W, seed=6)
    if kind == "reflectance":
        return (data / 10000).astype(np.float32)
    if kind == "uint8":
        return np.clip(data // 40, 0, 255).astype(np.uint8)
    if kind == "saturated":
        return np.full_like(data, 65535)
    return data


UNIT_CASES = [
    ("reflectance", "dn", None, "nearly black"),
    ("uint8", "dn", None, "nearly black"),
    ("saturated", "dn", None, "brighter than any scene"),
    ("dn", "reflectance", None, "brighter than any scene"),
    ("dn", "dn", None, None),
    ("reflectance", "reflectance", None, None),
    ("reflectance", "dn", 1.0, None),  # the right scale silences it
    ("dn", "reflectance", 1e-4, None),
]


@pytest.mark.parametrize(("data", "model", "scale", "warning"), UNIT_CASES)
def test_unit_traps_warn(
    data: str, model: str, scale: float | None, warning: str | None, caplog: Any
) -> None:
    pair = stand_in_model() if model == "dn" else _reflectance_model()
    res = mask_array(
        _trap_scene(data),
        pair,
        band_names=fakes.BANDS,
        nodata=None,
        config=EngineConfig(input_scale=scale),
    )
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if warning is None:
        assert said == res.report["warnings"] == []
        return
    assert len(said) == 1, said
    assert warning in said[0]
    assert "set EngineConfig(input_scale=...): 1 for reflectance, 1e-4 for Sentinel-2" in said[0]
    assert res.report["warnings"] == said


def test_unit_trap_on_the_command_line_names_the_scale_option(
    tmp_path: Path, stand_in_dir: Path
) -> None:
    path = write_scene_tif(
        tmp_path / "refl.tif", _trap_scene("reflectance"), names=fakes.BANDS, nodata=None
    )
    res = faults.runner(["mask", path, tmp_path / "m.tif", "--model", stand_in_dir])
    assert res.returncode == 0, res.stderr
    assert "looks nearly black" in res.stderr
    assert "set --scale: 1 for reflectance, 1e-4 for Sentinel-2 digital numbers" in res.stderr
    faults.no_traceback(res.stderr)
