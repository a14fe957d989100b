from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cascade.cli import main


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
    assert "already exists; pass overwrite=True (--overwrite)" in res.output
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
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
