from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cascade.cli import main
from tests import fakes
from tests.rasters import write_scene_tif, write_tif


def test_grid_text_and_json() -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["grid", "10980", "10980"])
    assert res.exit_code == 0, res.output
    assert "45 x 45 = 2025 cells" in res.output
    assert "coarse input 1440 x 1440 px (pool ratio 7.75:1)" in res.output
    res = runner.invoke(
        main,
        ["grid", "1000", "1337", "--patch", "128", "--margin", "8", "--stride", "16", "--json"],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["grid_shape"] == [9, 12]


def test_grid_bad_input_is_one_line_error() -> None:
    res = CliRunner().invoke(main, ["grid", "100", "100", "--patch", "8", "--margin", "4"])
    assert res.exit_code == 1
    assert "Error: patch must be larger than 2 * margin" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["grid", "0", "100"])
    assert res.exit_code == 1
    assert "Error: height must be >= 1, got 0" in res.output


def test_demo_writes_outputs_and_needs_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["demo", "--size", "700", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "assembled mask equals the known mask: yes" in res.output
    summary = json.loads((tmp_path / "demo-summary.json").read_text())
    assert summary["mask_exact"] is True
    assert summary["geometry"]["grid_shape"] == [3, 3]
    assert sum(summary["cells_per_class"].values()) == 9
    assert (tmp_path / "demo-quicklook.png").stat().st_size > 0
    res = runner.invoke(main, ["demo", "--size", "700", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert (
        "already exists; pass --overwrite to replace it" in res.output
    )  # the option, not the parameter
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    res = runner.invoke(main, ["demo", "--size", "700", "--out", str(tmp_path), "--overwrite"])
    assert res.exit_code == 0, res.output


def test_version() -> None:
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0
    assert "0.1.0" in res.output


def test_help_lists_every_command_including_the_training_ones() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0, res.output
    for name in ("batch", "demo", "grid", "info", "mask", "simulate", "train"):
        assert f"  {name} " in res.output
    res = CliRunner().invoke(main, ["train", "--help"])
    assert res.exit_code == 0, res.output
    assert "tune-threshold" in res.output


def test_a_command_loads_only_itself() -> None:
    """`cascade grid` (like `cascade mask`) imports neither training nor other commands."""
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from cascade.cli import main; "
        "r = CliRunner().invoke(main, ['grid', '100', '100']); assert r.exit_code == 0; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'training' "
        "or m in ('cascade.cli.batch', 'cascade.cli.mask', 'cascade.batch', 'tensorflow')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _runner(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``cascade ARGS`` in a process of its own, with the stand-in models of the fault suite
    (``--model`` must name a folder)."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-m", "tests.fault_runner", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_info_prints_the_provenance_readably() -> None:
    res = CliRunner().invoke(main, ["info", "sentinel2-l1c-7"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= 100, max(lines, key=len)
    assert "provenance   recipe: sentinel2-l1c-7" in lines
    assert (
        "               coarse_scenes: 250 entries (composed_21_0000 .. composed_21_0249): "
        "225 train, 25 val" in lines
    )
    assert "                   - kind: biome" in lines  # the recipe's sources, one per item
    assert "                 coarse_accuracy: 0.838333" in lines


def test_errors_name_the_command_line_options(tmp_path: Path) -> None:
    scene, _ = fakes.scene_with_mask(100, 120)
    path = write_scene_tif(tmp_path / "s.tif", scene, names=fakes.BANDS)
    (tmp_path / "model").mkdir()
    base = ["mask", str(path), str(tmp_path / "m.tif"), "--model", str(tmp_path / "model")]
    res = CliRunner().invoke(main, [*base, "--batch-size", "0"])
    assert res.exit_code == 1
    assert "Error: --batch-size must be >= 1, got 0" in res.output
    res = CliRunner().invoke(main, [*base, "--scale", "-1"])
    assert "Error: --scale must be a positive number" in res.output
    res = CliRunner().invoke(main, [*base, "--shadow-threshold", "2"])
    assert "Error: --shadow-threshold must be in (0, 1), got 2.0" in res.output
    (tmp_path / "m.tif").write_bytes(b"keep")
    res = CliRunner().invoke(main, base)
    assert (
        f"Error: {tmp_path / 'm.tif'} already exists; pass --overwrite to replace it" in res.output
    )
    # From Python the same errors name the parameters.
    from cascade.engine import EngineConfig
    from cascade.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^batch_size must be >= 1, got 0$"):
        EngineConfig(batch_size=0)


def test_a_scene_without_crs_warns_in_one_line(tmp_path: Path) -> None:
    scene, _ = fakes.scene_with_mask(100, 120)
    path = write_tif(tmp_path / "plain.tif", scene, nodata=0, names=fakes.BANDS)
    (tmp_path / "model").mkdir()
    res = _runner(["mask", str(path), str(tmp_path / "m.tif"), "--model", str(tmp_path / "model")])
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "CRS" in line or "warn" in line]
    assert warnings == [f"WARNING cascade: {path} has no CRS; the mask is written without one"]


def test_read_errors_carry_gdals_message(tmp_path: Path) -> None:
    """A scene with broken tiles: GDAL's reason, not 'See previous exception for details'."""
    import rasterio

    scene, _ = fakes.scene_with_mask(600, 600)
    path = tmp_path / "broken.tif"
    profile = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(
        path,
        "w",
        **profile,
        compress="deflate",
        width=600,
        height=600,
        count=4,
        dtype="uint16",
        nodata=0,
    ) as dst:
        dst.write(scene)
    data = bytearray(path.read_bytes())
    data[len(data) // 4 : len(data) // 2] = b"\xff" * (len(data) // 2 - len(data) // 4)
    path.write_bytes(bytes(data))  # the tiles in the middle no longer inflate
    (tmp_path / "model").mkdir()
    res = _runner(["mask", str(path), str(tmp_path / "m.tif"), "--model", str(tmp_path / "model")])
    assert res.returncode == 1
    (error,) = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: cannot read rows 0..599 of {path}: Read failed: ")
    assert "See previous exception" not in res.stderr
    assert "Traceback" not in res.stderr


TF_NOISE = ("I0000", "W0000", "E0000", "absl::InitializeLog", "cuInit", "cudart_stub")


def test_a_normal_run_prints_no_tensorflow_lines(tmp_path: Path) -> None:
    """`cascade mask` with a shipped model: TensorFlow's start-up lines only with -v."""
    root = Path(__file__).resolve().parents[1]
    sample = root / "sample" / "s2cloudless_scene.tif"
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CASCADE_TF_LOGS")
    }
    cascade = Path(sys.executable).with_name("cascade")  # the installed command
    cmd = [str(cascade), "mask", str(sample), str(tmp_path / "m.tif")]
    res = subprocess.run([*cmd, "--router", "none"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    noise = [line for line in res.stderr.splitlines() if any(n in line for n in TF_NOISE)]
    assert noise == []
    assert res.stderr.splitlines()[0].startswith("model: shipped sentinel2-l1c-7")
