"""Batch suite: scenes per hour with 1 and 2 Dask workers, and each worker's peak memory.

``python -m benchmarks run full --only batch`` (``make bench-batch``). It

1. writes ``batch_count`` simulated scenes of ``batch_scene_size`` px a side (band profile
   ``sentinel2-l1c-7``, clouds drawn per scene by :func:`training.simulator.random_cloud_config`,
   the draw of ``cascade simulate``) into ``benchmarks/work/`` once, and reuses them afterwards;
2. for each worker count in ``batch_workers``, starts a fresh local cluster
   (:func:`cascade.batch.cluster.connect`, one scene at a time per worker, the cores shared
   out among the workers), loads the model pair on every worker, runs a warm-up batch of one
   scene per worker (TensorFlow traces its functions on the first call), then times
   :func:`cascade.batch.run_batch` on all scenes with ``overwrite``;
3. reads every worker process's peak RSS after the batch.

The model pair is the shipped ``sentinel2-l1c-7``: with trained models the coarse stage
routes what it would route in production, so the fine stage's share, and with it the
throughput, is realistic. Steady state is measured: start-up and model loading are recorded
separately, since a production batch pays them once per worker for thousands of scenes.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import peak_rss_mib
from benchmarks.suite import Suite

PROFILE = "sentinel2-l1c-7"
MODEL = "sentinel2-l1c-7"
BATCH_SIZE = 8


def make_scenes(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    """Write (or reuse) ``count`` simulated scenes; their paths."""
    from training.simulator import random_cloud_config, write_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        name = f"scene_{seed + i:05d}"
        path = folder / f"{name}.tif"
        if not path.exists():
            config = random_cloud_config(np.random.default_rng([seed, i]))
            print(f"writing {path} ...", file=sys.stderr, flush=True)
            write_scene(folder, name, size, size, profile=PROFILE, config=config, seed=seed + i)
        paths.append(path)
    return paths


def run_workers(n_workers: int, work: Path, scenes: list[Path], model: Path) -> dict[str, Any]:
    """One cluster of ``n_workers``: warm up, time the batch, read the workers' peak RSS."""
    from cascade.batch import cluster_size, load_model_on_workers, run_batch
    from cascade.batch.cluster import connect, worker_peak_rss_mib
    from cascade.engine import EngineConfig

    config = EngineConfig(router="cascade", batch_size=BATCH_SIZE)
    t0 = time.perf_counter()
    with connect(None, n_workers, 1) as (client, _info):
        startup_s = time.perf_counter() - t0
        load_s = load_model_on_workers(client, model, BATCH_SIZE)
        t1 = time.perf_counter()
        warm_dir = work / f"batch-warm-{n_workers}w"
        warm = run_batch(
            scenes[:n_workers], warm_dir, model, config=config, scheduler=client, overwrite=True
        )
        warm_s = time.perf_counter() - t1
        print(f"[{n_workers} worker(s)] timing {len(scenes)} scenes ...", file=sys.stderr)
        out = work / f"batch-out-{n_workers}w"
        report = run_batch(scenes, out, model, config=config, scheduler=client, overwrite=True)
        rss = worker_peak_rss_mib(client)
    bad = [s for s in report.scenes + warm.scenes if s.status != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} scene(s) did not complete: {bad[0].name}: {bad[0].error}")
    seconds = [s.seconds for s in report.scenes]
    return {
        "workers": n_workers,
        "threads_per_worker": 1,
        "tf_threads_per_scene": cluster_size(n_workers, 1)[2],
        "scenes": len(scenes),
        "wall_s": round(report.wall_s, 2),
        "scenes_per_hour": report.totals["scenes_per_hour"],
        "scene_s_median": round(statistics.median(seconds), 2),
        "scene_s": [round(s, 2) for s in seconds],
        "patches_run": [s.patches_run for s in report.scenes],
        "scenes_per_worker": {
            w: sum(1 for s in report.scenes if s.worker == w)
            for w in sorted({s.worker or "" for s in report.scenes})
        },
        "cluster_startup_s": round(startup_s, 2),
        "model_load_s": {w: round(s, 2) for w, s in load_s.items()},
        "warm_up_s": round(warm_s, 2),
        "worker_peak_rss_mib": {w: round(v, 1) for w, v in rss.items()},
        "max_worker_peak_rss_mib": round(max(rss.values()), 1),
    }


def run(suite: Suite) -> dict[str, Any]:
    """The suite's record (see the module doc)."""
    from cascade.batch import set_dask_log_level
    from cascade.models.artifacts import load_pair_specs
    from cascade.models.pretrained import resolve_model

    p = suite.profile
    set_dask_log_level(logging.WARNING)  # no per-connection INFO lines
    model = resolve_model(MODEL)
    specs = load_pair_specs(model)
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews
    t0 = time.perf_counter()
    scene_dir = suite.work / f"batch-scenes-{p.batch_scene_size}-{PROFILE}-{p.seed}"
    scenes = make_scenes(scene_dir, p.batch_count, p.batch_scene_size, p.seed)
    scenes_s = time.perf_counter() - t0
    runs = [run_workers(n, suite.work, scenes, model) for n in p.batch_workers]
    by_workers = {r["workers"]: r for r in runs}
    summary: dict[str, Any] = {
        "scenes_per_hour": {str(r["workers"]): r["scenes_per_hour"] for r in runs},
        "max_worker_peak_rss_mib": {str(r["workers"]): r["max_worker_peak_rss_mib"] for r in runs},
    }
    if 1 in by_workers and 2 in by_workers:
        one, two = by_workers[1]["scenes_per_hour"], by_workers[2]["scenes_per_hour"]
        summary["speedup_2_vs_1"] = round(two / one, 3) if one else None
    return {
        "config": {
            "model": {
                "name": MODEL,
                "coarse": f"{specs.coarse.architecture}/{specs.coarse.backbone}",
                "fine": f"{specs.fine.architecture}/{specs.fine.backbone}",
                "bands": list(specs.bands),
            },
            "scenes": {
                "count": p.batch_count,
                "shape": [len(specs.bands), p.batch_scene_size, p.batch_scene_size],
                "profile": PROFILE,
                "seed": p.seed,
                "generation_s": round(scenes_s, 1),
            },
            "router": "cascade",
            "batch_size": BATCH_SIZE,
            "measured": "steady state: after model loading and a warm-up scene per worker",
        },
        "runs": runs,
        "summary": summary,
        "client_peak_rss_mib": round(peak_rss_mib(), 1),
        "load_average_at_start": load_at_start,
    }
