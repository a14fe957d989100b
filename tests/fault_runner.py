"""``cascade`` with stand-in models (no TensorFlow), and a signal at a chosen stage on request.

    CASCADE_FAULT=STAGE:SIGNAL python -m tests.fault_runner mask IN OUT --model DIR ...

The fault suite (``tests/test_faults.py``) runs it as a subprocess, so that a signal hits a
real process. ``--model`` must name an existing folder (its content is not read): the model
pair is :func:`stand_in_model`. Stages: ``read`` (before the scene is read), ``coarse`` (in
the coarse model), ``fine`` (in the first fine batch), ``write`` (after the mask's temporary
file is complete), ``commit`` (after the first output is renamed into place). Signals:
``INT``, ``TERM``, ``HUP``, ``KILL``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from cascade.engine import CascadeModel
from tests import fakes

__all__ = ["install", "stand_in_model"]


def stand_in_model(
    fire: Callable[[str], None] | None = None, coarse: Callable | None = None
) -> CascadeModel:
    """The band-0 stand-in pair (:func:`tests.fakes.band0_coarse`, ``threshold_fine``);
    ``fire(stage)`` is called as the coarse model and each fine batch run."""
    coarse_base = coarse or fakes.band0_coarse()
    fine_base = fakes.threshold_fine()

    def coarse_model(batch: Any) -> Any:
        if fire:
            fire("coarse")
        return coarse_base(batch)

    def fine_model(batch: Any) -> Any:
        if fire:
            fire("fine")
        return fine_base(batch)

    return fakes.make_model(coarse_model, fine_model)


def install(fault: str | None) -> None:
    """Patch the engine to use the stand-in pair and to raise ``fault`` (``STAGE:SIGNAL``)."""
    from cascade.engine import run as engine_run
    from cascade.engine import stages
    from cascade.io import files, raster

    stage, _, name = (fault or "").partition(":")

    def fire(at: str) -> None:
        if at == stage:
            os.kill(os.getpid(), getattr(signal, f"SIG{name}"))

    def load(folder: Any, batch_size: int = 8) -> CascadeModel:
        return stand_in_model(fire)

    engine_run.load_cascade_model = load  # type: ignore[assignment]
    read = stages.read_and_pool

    def read_and_pool(*args: Any, **kwargs: Any) -> Any:
        fire("read")
        return read(*args, **kwargs)

    stages.read_and_pool = read_and_pool  # type: ignore[assignment]
    write = raster.write_raster

    def write_raster(*args: Any, **kwargs: Any) -> Any:
        out = write(*args, **kwargs)
        fire("write")
        return out

    raster.write_raster = write_raster  # type: ignore[assignment]
    rename = files._rename

    def commit_rename(src: Any, dst: Any) -> None:
        rename(src, dst)
        fire("commit")

    files._rename = commit_rename


if __name__ == "__main__":
    install(os.environ.get("CASCADE_FAULT"))
    from cascade.cli import main

    sys.exit(main(prog_name="cascade"))
