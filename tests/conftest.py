"""Shared fixtures and hypothesis strategies: small, seeded, generated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from cascade.geometry import SceneGeometry

# Kernels compile on first call; a compile must not count against hypothesis's deadline.
settings.register_profile(
    "default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The paper's ratio (248 / 32 = 7.75) at a size that keeps tests fast: core 31, stride 4.
SMALL = {"patch": 39, "margin": 4, "stride": 4}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def fault_scene(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """The fault suite's scene on disk (300 x 400, its last cell row thin) and its mask."""
    from tests import fakes
    from tests.rasters import write_scene_tif

    data, truth = fakes.scene_with_mask(300, 400, seed=7)
    path = write_scene_tif(tmp_path / "in" / "scene.tif", data, names=fakes.BANDS)
    return path, truth


@pytest.fixture
def stand_in_dir(tmp_path: Path) -> Path:
    """A folder to pass as ``--model`` where the stand-in pair is patched in (not read)."""
    folder = tmp_path / "model"
    folder.mkdir()
    return folder


@st.composite
def geometries(draw: st.DrawFn, max_side: int = 90) -> SceneGeometry:
    """Any valid geometry with small patches, so that grids have several cells."""
    patch = draw(st.integers(3, 40))
    margin = draw(st.integers(0, (patch - 1) // 2))
    core = patch - 2 * margin
    stride = draw(st.integers(1, core))
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    return SceneGeometry(height, width, patch=patch, margin=margin, stride=stride)


def random_scene(
    rng: np.random.Generator, bands: int, height: int, width: int, dtype: str = "uint16"
) -> np.ndarray:
    """A random scene of any supported dtype."""
    if np.issubdtype(np.dtype(dtype), np.floating):
        return rng.uniform(0, 1.3, (bands, height, width)).astype(dtype)
    info = np.iinfo(np.dtype(dtype))
    hi = min(int(info.max), 12000)
    return rng.integers(max(int(info.min), 0), hi, (bands, height, width)).astype(dtype)


def tiny_bench_profile() -> Any:
    """The benchmark profile of the suite tests: seconds, not minutes (scenes of a few
    cells, one repeat, a few training steps), every suite's sizes set."""
    from dataclasses import replace

    from benchmarks.suite import PROFILES

    return replace(
        PROFILES["quick"],
        name="tiny",
        sim_scenes=1,
        sim_size=520,
        speed_size=744,
        sizes=(496,),
        structure_size=496,
        repeats=1,
        s2cloudless_factor=8,
        ablation_scenes=3,
        ablation_size=744,
        ablation_epochs=1,
        ablation_finetune_epochs=1,
        ablation_steps=2,
        ablation_eval_scenes=1,
        kernels_size=300,
        kernels_repeats=1,
        kernels_ref_repeats=1,
        engine_size=496,
        engine_isolated=False,
        engine_backbone="mobilenetv2",
        batch_scene_size=300,
        batch_count=1,
        batch_workers=(1,),
        simulate_size=300,
        levers_steps=1,
        levers_window=64,
        levers_batch=2,
        encoders=("resnet18",),  # one: the full profile's four take an hour
    )


_LEDGER_BEFORE = pytest.StashKey[dict[str, int]]()


def _ledger() -> dict[str, int] | None:
    import sys

    ledger = getattr(sys.modules.get("tests.faults"), "LEDGER", None)
    return None if ledger is None else dict(ledger)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """Each fault-suite case carries what it added to the ledger in its call report, so the
    summary adds them up in the process that prints it (with ``-n``, the workers run the cases
    and the controller prints)."""
    outcome = yield
    if not item.nodeid.startswith("tests/test_faults"):
        return
    if call.when == "setup":
        item.stash[_LEDGER_BEFORE] = _ledger() or {}
    elif call.when == "call":
        before = item.stash.get(_LEDGER_BEFORE, {})
        now = _ledger() or {}
        delta = {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}
        outcome.get_result().user_properties.append(("fault_ledger", delta))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's counts (tests/test_faults*.py, tests/faults.py), when it ran."""
    from collections import Counter

    ledger: Counter[str] = Counter()
    outcomes: dict[str, str] = {}
    for key in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(key, []):
            nodeid = getattr(report, "nodeid", "")
            if not nodeid.startswith("tests/test_faults"):
                continue
            if key == "passed" and report.when != "call":
                continue
            outcomes.setdefault(nodeid, key)
            if report.when == "call":
                for name, value in getattr(report, "user_properties", []):
                    if name == "fault_ledger":
                        ledger.update(value)
    if not outcomes:
        return
    counts = {k: sum(1 for v in outcomes.values() if v == k) for k in ("passed", "failed")}
    terminalreporter.write_sep("-", "fault suite")
    terminalreporter.write_line(
        f"{len(outcomes)} cases: {counts['passed']} passed, {counts['failed']} failed; "
        f"{ledger['silent_wrong']} silent wrong results (of {ledger['silent_wrong_checked']} "
        f"checked), {ledger['lost_files']} lost files (of {ledger['lost_files_checked']} "
        f"checks), {ledger['tracebacks']} tracebacks (of {ledger['tracebacks_checked']} checked)"
    )
