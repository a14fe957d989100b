"""The fault suite, writing: a write failure at every output, and signals at every stage.

See ``tests/test_faults.py`` for the suite; here every case ends with a rerun of the same
command, which must succeed and leave exactly the outputs, with the known mask.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import rasterio

from tests import faults

# -- a write failure at every output --------------------------------------------------------------

OUTPUT_OPTIONS = ["--probabilities", "--coarse-grid", "--quicklook", "--report"]
OUTPUT_NAMES = {
    "output": "m.tif",
    "--probabilities": "p.tif",
    "--coarse-grid": "g.tif",
    "--quicklook": "q.png",
    "--report": "m.json",
}


def _mask_args(path: Path, out: Path, stand_in_dir: Path, *extra: str) -> list[Any]:
    args: list[Any] = ["mask", path, out / OUTPUT_NAMES["output"], "--model", stand_in_dir]
    for option in OUTPUT_OPTIONS:
        args += [option, out / OUTPUT_NAMES[option]]
    return [*args, *extra]


class _FailingDataset:
    """A dataset being written whose writes fail as GDAL's do when the disk is full."""

    def __init__(self, dataset: Any) -> None:
        self._ds = dataset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)

    def __enter__(self) -> _FailingDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self._ds.close()

    def write(self, *args: Any, **kwargs: Any) -> None:
        from rasterio._err import CPLE_AppDefinedError

        raise CPLE_AppDefinedError(1, 1, "TIFFAppendToStrip:Write error at scanline 0")


def _inject(where: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make writing ``where`` fail; the message expected after ``Error: cannot write PATH: ``."""
    name = OUTPUT_NAMES.get(where, "")
    if where in ("output", "--probabilities", "--coarse-grid"):
        real_open = rasterio.open

        def failing_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            ds = real_open(path, mode, *args, **kwargs)
            if mode == "w" and Path(path).name.startswith(f".{name}.cascade-tmp-"):
                return _FailingDataset(ds)
            return ds

        monkeypatch.setattr(rasterio, "open", failing_open)
        return "TIFFAppendToStrip:Write error at scanline 0"
    if where == "--quicklook":
        import imageio.v3

        def no_space(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(imageio.v3, "imwrite", no_space)
        return os.strerror(errno.ENOSPC)
    if where == "--report":
        real_write = Path.write_text

        def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
            if self.name.startswith(f".{name}.cascade-tmp-"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", write_text)
        return os.strerror(errno.ENOSPC)
    from cascade.io import files  # the commit: the second rename fails

    real_rename, calls = files._rename, []

    def rename(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_rename(src, dst)

    monkeypatch.setattr(files, "_rename", rename)
    return f"{os.strerror(errno.EIO)}; no output of this run was kept"


def _out_dir(scene: Path) -> Path:
    out = scene.parent.parent / "out"
    out.mkdir()
    return out


def _outputs_right(out: Path, truth: Any) -> None:
    """Every output of a finished run is there, and the mask is the known one."""
    faults.files_are(out, dict.fromkeys(OUTPUT_NAMES.values()))
    with rasterio.open(out / "m.tif") as ds:
        faults.mask_right(ds.read(1), truth)


@pytest.mark.parametrize("old", [False, True], ids=["fresh", "over-old-outputs"])
@pytest.mark.parametrize("where", ["output", *OUTPUT_OPTIONS, "commit"])
def test_a_write_failure_keeps_no_output_and_loses_nothing(
    where: str, old: bool, fault_scene: Any, stand_in_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, truth = fault_scene
    out = _out_dir(path)
    before = {name: f"old {name}".encode() for name in OUTPUT_NAMES.values()} if old else {}
    for name, content in before.items():
        (out / name).write_bytes(content)
    args = _mask_args(path, out, stand_in_dir, *(["--overwrite"] if old else []))
    with monkeypatch.context() as patch:
        said = _inject(where, patch)
        res = faults.run_cli(args, patch)
    assert res.exit_code == 1, res.output
    failed = "" if where == "commit" else str(out / OUTPUT_NAMES[where])
    assert f"Error: cannot write {failed}" in res.output
    assert said in res.output
    assert len([line for line in res.output.splitlines() if line.startswith("Error:")]) == 1
    faults.no_traceback(res.output)
    faults.files_are(out, dict(before))
    rerun = faults.run_cli(args, monkeypatch)
    assert rerun.exit_code == 0, rerun.output
    faults.files_are(out, dict.fromkeys(OUTPUT_NAMES.values()))
    with rasterio.open(out / "m.tif") as ds:
        faults.mask_right(ds.read(1), truth)


# -- signals at each stage of a real process ----------------------------------------------------


STAGES = ["read", "coarse", "fine", "write", "commit"]
SIGNAL_CASES = [(stage, sig) for stage in STAGES for sig in ("INT", "TERM", "KILL")]
SIGNAL_CASES += [("fine", "HUP")]


@pytest.mark.parametrize(("stage", "sig"), SIGNAL_CASES)
def test_signal_at_each_stage_then_a_rerun(
    stage: str, sig: str, fault_scene: Any, stand_in_dir: Path
) -> None:
    path, truth = fault_scene
    out = _out_dir(path)
    args = _mask_args(path, out, stand_in_dir, "-q")
    res = faults.runner(args, f"{stage}:{sig}")
    signum = getattr(signal, f"SIG{sig}")
    faults.no_traceback(res.stderr)
    if sig == "KILL":
        assert res.returncode == -signum
        left = faults.snapshot(out)
        finals = sorted(n for n in left if not n.startswith("."))
        assert finals == ([] if stage != "commit" else ["m.tif"]), left  # renamed before the kill
    else:
        assert res.returncode == 128 + signum, res.stderr
        assert f"Aborted by SIG{sig}." in res.stderr
        faults.files_are(out, {})  # nothing written, nothing left behind
    rerun = faults.runner(args)
    assert rerun.returncode == 0, rerun.stderr
    faults.no_traceback(rerun.stderr)
    _outputs_right(out, truth)


def test_an_ignored_signal_stays_ignored(fault_scene: Any, stand_in_dir: Path) -> None:
    """Under ``nohup`` (SIGHUP ignored) a hang-up does not stop the command."""
    path, truth = fault_scene
    out = _out_dir(path)
    res = faults.runner(_mask_args(path, out, stand_in_dir, "-q"), "fine:HUP", (signal.SIGHUP,))
    assert res.returncode == 0, res.stderr
    _outputs_right(out, truth)


def test_kill_during_commit_puts_the_old_outputs_back(fault_scene: Any, stand_in_dir: Path) -> None:
    path, _ = fault_scene
    out = _out_dir(path)
    old = {name: f"old {name}".encode() for name in OUTPUT_NAMES.values()}
    for name, content in old.items():
        (out / name).write_bytes(content)
    args = _mask_args(path, out, stand_in_dir, "-q")
    res = faults.runner([*args, "--overwrite"], "commit:KILL")
    assert res.returncode == -signal.SIGKILL
    assert (out / "m.tif").read_bytes() != old["m.tif"]  # replaced before the kill
    # The next run of these outputs undoes the cut-short commit before it checks them.
    again = faults.runner(args)
    assert again.returncode == 1
    assert "m.tif already exists; pass --overwrite to replace it" in again.stderr
    faults.no_traceback(again.stderr)
    faults.files_are(out, dict(old))
