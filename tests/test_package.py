from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cascade.errors import CascadeError, OutputExistsError
from cascade.io.files import atomic_output


def test_import_cascade_is_light() -> None:
    code = (
        "import sys, cascade; "
        "heavy = [m for m in ('tensorflow', 'keras', 'numba', 'rasterio', 'click', "
        "'segmentation_models') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


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
