"""The batch report keeps the history of the runs into it (no Dask needed)."""

from __future__ import annotations

import json
from pathlib import Path

from cascade.batch import BatchReport, SceneResult


def _report(started: str, *scenes: tuple[str, str]) -> BatchReport:
    results = [
        SceneResult(name, f"{name}.tif", f"{name}_mask.tif", f"{name}_mask.json", status)  # type: ignore[arg-type]
        for name, status in scenes
    ]
    return BatchReport(
        scenes=results,
        out_dir="out",
        wall_s=1.0,
        startup_s=0.1,
        model={},
        config={},
        cluster={},
        retries=2,
        overwrite=False,
        started_utc=started,
    )


def test_a_rerun_of_one_scene_keeps_the_record_of_the_others(tmp_path: Path) -> None:
    path = tmp_path / "batch-report.json"
    names = [f"s{i}" for i in range(7)]
    _report("2026-01-01T00:00:00+00:00", *((n, "ok") for n in names)).write(path)
    _report("2026-01-02T00:00:00+00:00", ("s3", "failed")).write(path)
    _report("2026-01-03T00:00:00+00:00", ("s3", "ok")).write(path)
    record = json.loads(path.read_text())
    assert [s["name"] for s in record["scenes"]] == ["s3"]  # this run, as before
    assert record["totals"]["scenes"] == 1
    assert [h["started_utc"][:10] for h in record["history"]] == ["2026-01-01", "2026-01-02"]
    assert [s["name"] for s in record["history"][0]["scenes"]] == names
    assert sorted(record["latest"]) == names
    assert record["latest"]["s3"]["status"] == "ok"
    assert record["latest"]["s3"]["run_started_utc"].startswith("2026-01-03")
    assert record["latest"]["s5"]["run_started_utc"].startswith("2026-01-01")


def test_a_report_that_cannot_be_read_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "batch-report.json"
    path.write_text("{ not json")
    _report("2026-01-01T00:00:00+00:00", ("a", "ok")).write(path)
    (aside,) = tmp_path.glob("batch-report.unreadable-*.json")
    assert aside.read_text() == "{ not json"
    assert json.loads(path.read_text())["history"] == []
