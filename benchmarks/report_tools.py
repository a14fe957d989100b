"""The report's sections of the opt-in suites: kernels, engine, batch and simulate.

Each renders the suite's record when the profile has one (``--only kernels`` and so on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.report_format import _source, _table
from benchmarks.suite import Suite

__all__ = ["TOOL_SECTIONS"]


def _recorded_by(r: dict[str, Any]) -> str:
    return f"Recorded {r['date_utc']} UTC by `{r['command']}`."


def _kernels(suite: Suite, r: dict[str, Any]) -> list[str]:
    c = r["config"]
    rows = []
    for name, e in r["results"].items():
        ref = e.get("reference", {}).get("median_s")
        rows.append([name, e["kernel"]["median_s"], ref, e.get("speedup")])
    s = r["summary"]
    return [
        "## Kernels",
        "",
        "Numba kernels against their numpy references on a "
        + " x ".join(map(str, c["scene_shape"]))
        + f" {c['dtype']} scene ({c['n_patches']} patches), medians of {c['repeats']} "
        f"kernel and {c['ref_repeats']} reference runs after a compile warm-up, each output "
        f"checked against its reference. {_recorded_by(r)}",
        "",
        _table(["kernel", "Numba s", "numpy reference s", "speed-up"], rows),
        "",
        f"- Target {s['speedup_target']}x over the reference: met by "
        f"{', '.join(s['kernels_meeting_speedup_target']) or 'none'}; missed by "
        f"{', '.join(s['kernels_missing_speedup_target']) or 'none'} (these only move bytes, "
        "and their references already run near a plain copy: see the memcpy floors).",
        f"- Pooling the whole scene: {s['pool_full_scene_s']} s (target "
        f"{s['pool_target_s']} s). Peak RSS {r['peak_rss_mib']:.0f} MiB.",
        "",
        _source(suite, "kernels"),
    ]


def _engine(suite: Suite, r: dict[str, Any]) -> list[str]:
    c, s = r["config"], r["summary"]
    stages = ("read_and_pool", "coarse", "fine", "fine_predict", "total")
    rows = [
        [name, *[run["timings_s"].get(k) for k in stages], run["patches_run"], run["peak_rss_mib"]]
        for name, run in r["runs"].items()
    ]
    return [
        "## Engine: cascade vs patch baseline",
        "",
        f"A {' x '.join(map(str, c['scene']['shape']))} scene from disk "
        f"({c['scene']['file']}), {c['scene']['partly_cloudy_fraction']:.0%} of its cells "
        f"Partly Cloudy and routed by their known class; models {c['models']['coarse']} + "
        f"{c['models']['fine']} with random weights. {_recorded_by(r)}",
        "",
        _table(
            [
                "router",
                "read + pool s",
                "coarse s",
                "fine s",
                "of which model s",
                "total s",
                "patches",
                "peak RSS MiB",
            ],
            rows,
        ),
        "",
        f"- Speed-up **{s['speedup']}x** ({s['speedup_including_write']}x with writing), "
        f"against the ideal bound 1 / (f + c) = {s['ideal_bound']} for f = "
        f"{s['routed_fraction_f']}, c = {s['coarse_cost_c']}: {s['speedup_over_bound']:.0%} "
        "of the bound.",
        "",
        _source(suite, "engine"),
    ]


def _batch(suite: Suite, r: dict[str, Any]) -> list[str]:
    c = r["config"]
    model = c["model"].get("name") or str(c["model"].get("folder", "?")).rsplit("/", 1)[-1]
    rows = [
        [
            run["workers"],
            run["scenes"],
            run["scenes_per_hour"],
            run["scene_s_median"],
            run["max_worker_peak_rss_mib"],
        ]
        for run in r["runs"]
    ]
    return [
        "## Batch on Dask",
        "",
        f"{c['scenes']['count']} simulated scenes of "
        f"{' x '.join(map(str, c['scenes']['shape']))}, model `{model}`, router "
        f"`{c['router']}`; {c['measured']}. {_recorded_by(r)}",
        "",
        _table(["workers", "scenes", "scenes/h", "median s/scene", "peak RSS/worker MiB"], rows),
        "",
        _source(suite, "batch"),
    ]


def _simulate(suite: Suite, r: dict[str, Any]) -> list[str]:
    c = r["config"]
    return [
        "## Simulator",
        "",
        f"A {c['size']} x {c['size']} `{c['profile']}` scene written strip by strip "
        f"({c['strip_rows']} rows): {r['wall_s']} s, peak RSS {r['peak_rss_mib']:.0f} MiB "
        f"(target under 2048 MiB: {'met' if r['meets_rss_target'] else 'missed'}); cloud "
        f"{r['exact_cloud_fraction']:.1%} (exact labels). {_recorded_by(r)}",
        "",
        _source(suite, "simulate"),
    ]


def _levers(suite: Suite, r: dict[str, Any]) -> list[str]:
    lines = ["## Training-data levers of the fine model", ""]
    if r.get("skipped"):
        return [*lines, f"Skipped: {r['skipped']}.", "", _source(suite, "levers")]
    rows = [
        [
            a["arm"],
            a["accuracy"],
            a["f1"],
            a["threshold"],
            a["accuracy_at_0.5"],
            a["f1_at_0.5"],
            f"{a['train_seconds'] / 60:.1f}",
        ]
        for a in r["arms"]
    ]
    return [
        *lines,
        f"The {r['model']}, trained from the same seed for {r['steps']} steps of "
        f"{r['batch']} windows of {r['window']} px in every arm; only the training data "
        f"differ (`benchmarks/suite_levers.py`). Scored on the {r['validation']}; the threshold "
        "is tuned on the same patches, as the shipped recipe tunes it, so the first columns "
        "flatter every arm alike. " + _recorded_by(r),
        "",
        _table(
            ["arm", "accuracy", "F1", "threshold", "accuracy at 0.5", "F1 at 0.5", "training min"],
            rows,
        ),
        "",
        _source(suite, "levers"),
    ]


TOOL_SECTIONS: dict[str, Callable[[Suite, dict[str, Any]], list[str]]] = {
    "levers": _levers,
    "kernels": _kernels,
    "engine": _engine,
    "batch": _batch,
    "simulate": _simulate,
}
