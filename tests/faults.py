"""The fault suite's checks, which count what they find, and its ways of running ``cascade``.

The suite is ``tests/test_faults*.py``; its fixtures (``fault_scene``, ``stand_in_dir``) are
in ``tests/conftest.py``. Each check asserts, and first records its outcome in
:data:`LEDGER`, so that the summary at the end of a pytest run (``tests/conftest.py``) can say
how many silent wrong results, lost files and tracebacks the suite met, next to how many times
it looked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

__all__ = [
    "LEDGER",
    "ROOT",
    "files_are",
    "mask_right",
    "no_traceback",
    "refused_loudly",
    "run_cli",
    "runner",
    "snapshot",
]

ROOT = Path(__file__).resolve().parents[1]

# "<what>_checked": how often it was looked for; "<what>": how often it was found.
LEDGER: Counter[str] = Counter()


def mask_right(mask: np.ndarray, truth: np.ndarray) -> None:
    """A mask that was produced (exit 0) must be the known one: else a silent wrong result."""
    LEDGER["silent_wrong_checked"] += 1
    wrong = mask.shape != truth.shape or not np.array_equal(mask, truth)
    LEDGER["silent_wrong"] += int(wrong)
    np.testing.assert_array_equal(mask, truth)


def refused_loudly() -> None:
    """A bad input that raised (checked by the caller) is a refusal, not a wrong result."""
    LEDGER["silent_wrong_checked"] += 1


def no_traceback(text: str) -> None:
    LEDGER["tracebacks_checked"] += 1
    found = "Traceback (most recent call last)" in text
    LEDGER["tracebacks"] += int(found)
    assert not found, text


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> content)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def files_are(folder: Path, expected: dict[str, bytes | None]) -> None:
    """``folder`` holds exactly ``expected`` (content, or None for any content).

    A file that was there before and is gone or changed is a lost file; anything else
    (temporary files, half-written outputs) fails the check too.
    """
    LEDGER["lost_files_checked"] += 1
    now = snapshot(folder)
    lost = [
        name
        for name, content in expected.items()
        if name not in now or (content is not None and now[name] != content)
    ]
    LEDGER["lost_files"] += len(lost)
    assert not lost, f"lost or changed: {lost}"
    extra = sorted(set(now) - set(expected))
    assert not extra, f"left on disk: {extra}"


def run_cli(args: list[Any], monkeypatch: pytest.MonkeyPatch, **model: Any) -> Any:
    """``cascade ARGS`` in this process with the stand-in pair of :mod:`tests.fault_runner`
    (``model``: its options); the result's ``loads`` lists the model loads."""
    from cascade.cli import main
    from cascade.engine import run as engine_run
    from tests.fault_runner import stand_in_model

    loads: list[Any] = []

    def load(folder: Any, batch_size: int = 8) -> Any:
        loads.append(folder)
        return stand_in_model(**model)

    monkeypatch.setattr(engine_run, "load_cascade_model", load)
    res = CliRunner().invoke(main, [str(a) for a in args])
    res.loads = loads  # type: ignore[attr-defined]
    return res


def runner(
    args: list[Any], fault: str = "", ignored: tuple[int, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``cascade ARGS`` in a process of its own with the stand-in pair, and ``fault``
    (``STAGE:SIGNAL``, see :mod:`tests.fault_runner`); ``ignored``: signals it starts with
    ignored (as ``nohup`` ignores SIGHUP), the others at their default."""
    env = {**os.environ, "CASCADE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tests.fault_runner", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _signals(ignored),
    )


def _signals(ignored: tuple[int, ...]) -> None:
    """The signals' default handling, as in a terminal (a background job, as under ``make``
    run from a script, inherits SIGINT ignored, which the command keeps ignoring)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN if s in ignored else signal.SIG_DFL)
