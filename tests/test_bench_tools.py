"""The kernels, engine, batch and simulate suites of the runner on a tiny profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import __main__ as bench_main
from benchmarks._common import write_results
from benchmarks.report import render
from benchmarks.suite import Suite
from tests.conftest import SHARED_DATA, tiny_bench_profile

TINY = tiny_bench_profile()

needs_background = pytest.mark.skipif(
    not (SHARED_DATA / "s2_l1c_clear_virginia").is_dir(),
    reason=f"shared data {SHARED_DATA} is absent: the suite simulates over its background",
)


def tiny_suite(root: Path) -> Suite:
    return Suite(
        profile=TINY,
        data_dir=None,
        work=root / "work",
        results_root=root / "results",
        docs=root / "docs",
    )


def run_and_render(suite: Suite, name: str) -> tuple[dict, str]:
    """Run one suite as the runner does, write its record, render the report."""
    payload = bench_main._suite_module(name).run(suite)
    write_results(name, payload, f"test {name}", folder=suite.results)
    return payload, render(suite)


def test_runner_knows_every_suite_and_runs_the_report_suites_by_default() -> None:
    assert set(bench_main.SUITES) == {
        "accuracy",
        "speed",
        "ablation",
        "encoders",
        "kernels",
        "engine",
        "batch",
        "simulate",
        "levers",
    }
    assert bench_main.DEFAULT_SUITES == ("accuracy", "speed", "ablation")


def test_kernels_suite_checks_every_kernel_against_its_reference(tmp_path: Path) -> None:
    suite = tiny_suite(tmp_path)
    r, text = run_and_render(suite, "kernels")
    with_reference = {k for k, v in r["results"].items() if "reference" in v}
    assert with_reference == {
        "pad_reflect",
        "pool_area",
        "pool_labels",
        "extract_all_patches",
        "reassemble_all_patches",
    }
    assert all(r["results"][k]["agrees_with_reference"] for k in with_reference)
    assert r["config"]["scene_shape"] == [7, 300, 300]
    assert "## Kernels" in text
    assert "benchmarks/results/tiny/kernels.json" in text


@needs_background
def test_simulate_suite_writes_a_scene_and_records_its_memory(tmp_path: Path) -> None:
    suite = tiny_suite(tmp_path)
    r, text = run_and_render(suite, "simulate")
    assert r["config"]["size"] == 300
    assert r["peak_rss_mib"] > 0
    assert set(r["file_bytes"]) == {"scene", "paper", "exact"}
    assert not list((suite.work / "simulate").glob("*.tif"))  # cleaned up
    assert "## Simulator" in text


@pytest.mark.slow
def test_engine_suite_times_both_routers(tmp_path: Path) -> None:
    suite = tiny_suite(tmp_path)
    r, text = run_and_render(suite, "engine")
    cas, base = r["runs"]["cascade"], r["runs"]["all"]
    assert base["patches_run"] == base["cells"] == 4
    assert cas["patches_run"] == round(0.2 * 4)
    assert r["summary"]["speedup"] > 0
    assert "## Engine: cascade vs patch baseline" in text


@pytest.mark.slow
@needs_background
def test_batch_suite_masks_the_scenes_on_a_local_cluster(tmp_path: Path) -> None:
    suite = tiny_suite(tmp_path)
    r, text = run_and_render(suite, "batch")
    (run,) = r["runs"]
    assert run["workers"] == 1
    assert run["scenes"] == 1
    assert run["scenes_per_hour"] > 0
    assert run["max_worker_peak_rss_mib"] > 100
    assert "## Batch on Dask" in text


@pytest.mark.slow
@pytest.mark.skipif(
    not (SHARED_DATA / "l8biome_patches").is_dir(), reason="the L8 Biome patches are absent"
)
def test_levers_suite_trains_its_arms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import suite_levers

    # One arm (the last, which changes the augmentation as well as the sources): every arm runs
    # the same code with another recipe, and each costs one to two minutes here.
    last = list(suite_levers.ARMS)[-1]
    monkeypatch.setattr(suite_levers, "ARMS", {last: suite_levers.ARMS[last]})
    suite = Suite(
        profile=TINY,
        data_dir=SHARED_DATA,
        work=tmp_path / "work",
        results_root=tmp_path / "results",
        docs=tmp_path / "docs",
    )
    r, text = run_and_render(suite, "levers")
    assert [a["arm"] for a in r["arms"]] == [last]
    for a in r["arms"]:
        assert 0.0 <= a["accuracy"] <= 1.0
        assert a["accuracy"] >= a["accuracy_at_0.5"]  # the tuned threshold is the best one
    assert "## Training-data levers of the fine model" in text


def test_levers_suite_skips_without_the_biome_patches(tmp_path: Path) -> None:
    r, text = run_and_render(tiny_suite(tmp_path), "levers")
    assert r["arms"] == []
    assert "Skipped: the L8 Biome patches are absent" in text
