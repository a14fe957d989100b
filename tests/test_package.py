from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cascade.errors import CascadeError, OutputExistsError
from cascade.io.files import atomic_output

REPO = Path(__file__).resolve().parents[1]


def test_import_cascade_is_light() -> None:
    code = (
        "import sys, cascade; "
        "heavy = [m for m in ('tensorflow', 'keras', 'numba', 'rasterio', 'click', "
        "'segmentation_models', 'dask', 'distributed') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_main_api_is_exported_lazily() -> None:
    import cascade
    from cascade.engine import EngineConfig, load_cascade_model, mask_array, mask_scene

    assert cascade.EngineConfig is EngineConfig
    assert cascade.mask_scene is mask_scene
    assert cascade.mask_array is mask_array
    assert cascade.load_cascade_model is load_cascade_model
    assert {"run_batch", "pick_model", "CascadeResult"} <= set(dir(cascade))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = cascade.nope  # type: ignore[attr-defined]


def _imports(folder: str) -> dict[str, list[str]]:
    """Top-level modules each source file under ``folder`` imports (ast, lazily too)."""
    import ast

    out = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        names = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module.split(".")[0])
        out[str(path.relative_to(REPO))] = names
    return out


def test_each_library_is_imported_in_its_one_place() -> None:
    allowed = {
        "rasterio": "cascade/io/raster/",  # products read through it
        "tensorflow": "cascade/models/",
        "keras": "cascade/models/",
        "dask": "cascade/batch/",
        "distributed": "cascade/batch/",
        "click": "cascade/cli/",
    }
    for path, names in _imports("cascade").items():
        assert "training" not in names, path
        assert "benchmarks" not in names, path
        for lib, where in allowed.items():
            if lib in names:
                assert path.startswith(where), f"{path} imports {lib}; only {where} may"
    for folder in ("training", "benchmarks"):
        for path, names in _imports(folder).items():
            assert "rasterio" not in names, path
            assert "dask" not in names, path
            assert "distributed" not in names, path


def test_size_check_names_the_offenders(tmp_path: Path) -> None:
    from tests import check_sizes

    long_body = "\n".join(f"    x{i} = {i}" for i in range(85))
    (tmp_path / "big.py").write_text(f"def long() -> None:\n{long_body}\n")
    found = check_sizes.offenders(tmp_path / "big.py")
    assert len(found) == 1
    assert "function long has 86 lines (limit 80)" in found[0]
    assert check_sizes.main([str(tmp_path)]) == 1
    assert check_sizes.main([]) == 0  # the repository keeps its limits


def test_training_and_benchmarks_importable() -> None:
    import benchmarks
    import training

    assert training.__doc__
    assert benchmarks.__doc__


def test_atomic_output(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("one")
        assert not target.exists()
    assert target.read_text() == "one"
    # Readable like any new file (mkstemp alone would leave 0600).
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(OutputExistsError, match="already exists"), atomic_output(target):
        pass

    def failing_writer() -> None:
        with atomic_output(target, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        failing_writer()
    assert target.read_text() == "one"  # nothing lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # nothing half-written
    with (
        pytest.raises(CascadeError, match="does not exist"),
        atomic_output(tmp_path / "missing" / "x.txt"),
    ):
        pass
