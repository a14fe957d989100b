"""Batch benchmark: scenes per hour with 1 and 2 Dask workers, and each worker's peak memory.

Run ``python -m benchmarks.batch`` (or ``make bench-batch``). It

1. writes ``--count`` simulated scenes of ``--size`` x ``--size`` px (``cascade.simulate``,
   band profile ``--profile``, cloud cover drawn per scene as ``cascade simulate`` does) into
   ``benchmarks/work/batch-scenes-*`` once, and reuses them afterwards;
2. for each worker count in ``--workers`` (default 1 and 2), starts a fresh local cluster
   (:func:`cascade.batch.local_cluster`, one scene at a time per worker, the cores shared out
   among the workers), loads the model pair on every worker, runs a warm-up batch of one
   scene per worker (TensorFlow traces its functions on the first call), then times
   :func:`cascade.batch.run_batch` on all scenes with ``overwrite``;
3. reads every worker process's peak RSS after the batch, and writes
   ``benchmarks/results/batch.json``: scenes per hour, per-scene times and patches, model load
   and cluster start-up times, per-worker peak RSS, the machine and the versions.

The model pair is ``--model`` (default: the shipped ``sentinel2-l1c-7``): with
trained models the coarse stage routes what it would route in production, so the fine
stage's share, and with it the throughput, is realistic. Steady state is measured: start-up
and model loading are recorded separately, since a production batch pays them once per
worker for thousands of scenes.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import peak_rss_mib, write_results

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "cascade" / "pretrained" / "sentinel2-l1c-7"  # the shipped pair
WORK_DIR = Path(__file__).resolve().parent / "work"


def _worker_peak_rss_mib() -> float:
    """Peak RSS of the calling (worker) process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_scenes(folder: Path, count: int, size: int, profile: str, seed: int) -> list[Path]:
    """Write (or reuse) ``count`` simulated scenes; their paths."""
    from cascade.simulate import CloudConfig, write_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        name = f"scene_{seed + i:05d}"
        path = folder / f"{name}.tif"
        if not path.exists():
            rng = np.random.default_rng([seed, i])
            config = CloudConfig(
                cover=float(rng.uniform(0.0, 0.9)),
                scale_px=float(np.exp(rng.uniform(np.log(100), np.log(4000)))),
                sun_azimuth_deg=float(rng.uniform(100, 200)),
                sun_elevation_deg=float(rng.uniform(20, 70)),
            )
            print(f"writing {path} ...", file=sys.stderr, flush=True)
            write_scene(folder, name, size, size, profile=profile, config=config, seed=seed + i)
        paths.append(path)
    return paths


def run_workers(
    n_workers: int, args: argparse.Namespace, scenes: list[Path], model: Path
) -> dict[str, Any]:
    """One cluster of ``n_workers``: warm up, time the batch, read the workers' peak RSS."""
    from distributed import Client

    from cascade.batch import cluster_size, load_model_on_workers, local_cluster, run_batch
    from cascade.engine import EngineConfig

    config = EngineConfig(router=args.router, batch_size=args.batch_size)
    out = args.work / f"batch-out-{n_workers}w"
    t0 = time.perf_counter()
    with local_cluster(n_workers, args.threads_per_worker) as cluster, Client(cluster) as client:
        client.wait_for_workers(n_workers)
        startup_s = time.perf_counter() - t0
        load_s = load_model_on_workers(client, model, args.batch_size)
        t1 = time.perf_counter()
        warm = run_batch(
            scenes[:n_workers],
            args.work / f"batch-warm-{n_workers}w",
            model,
            config=config,
            scheduler=client,
            overwrite=True,
        )
        warm_s = time.perf_counter() - t1
        print(f"[{n_workers} worker(s)] timing {len(scenes)} scenes ...", file=sys.stderr)
        report = run_batch(scenes, out, model, config=config, scheduler=client, overwrite=True)
        rss = client.run(_worker_peak_rss_mib)
    bad = [s for s in report.scenes + warm.scenes if s.status != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} scene(s) did not complete: {bad[0].name}: {bad[0].error}")
    seconds = [s.seconds for s in report.scenes]
    record = {
        "workers": n_workers,
        "threads_per_worker": args.threads_per_worker,
        "tf_threads_per_scene": cluster_size(n_workers, args.threads_per_worker)[2],
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
        "worker_peak_rss_mib": {w: round(float(v), 1) for w, v in rss.items()},
        "max_worker_peak_rss_mib": round(max(float(v) for v in rss.values()), 1),
    }
    print(
        f"[{n_workers} worker(s)] {record['scenes_per_hour']} scenes/h, "
        f"peak RSS per worker {record['max_worker_peak_rss_mib']} MiB",
        file=sys.stderr,
        flush=True,
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"model pair folder (default: {DEFAULT_MODEL.relative_to(ROOT)} if it exists)",
    )
    parser.add_argument("--count", type=int, default=4, help="scenes in the timed batch")
    parser.add_argument("--size", type=int, default=10980, help="scene side in px")
    parser.add_argument("--profile", default="sentinel2-l1c-7", help="band profile of scenes")
    parser.add_argument(
        "--workers", default="1,2", help="worker counts to measure, comma-separated"
    )
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--router", default="cascade", choices=["cascade", "all", "none"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=WORK_DIR, help="scratch folder")
    parser.add_argument("--name", default="batch", help="results file name (no .json)")
    args = parser.parse_args(argv)

    model = args.model if args.model is not None else DEFAULT_MODEL
    if not (model / "coarse.json").is_file():
        parser.error(
            f"no model pair at {model}; pass --model MODEL_DIR (a trained pair gives realistic "
            "routing; benchmarks/work/model from `make bench-engine` has random weights)"
        )
    try:
        worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        parser.error(f"--workers takes comma-separated integers, got {args.workers!r}")
    if not worker_counts or min(worker_counts) < 1:
        parser.error(f"--workers needs counts >= 1, got {args.workers!r}")

    from cascade.artifacts import load_pair_specs
    from cascade.batch import set_dask_log_level

    set_dask_log_level(logging.WARNING)  # no per-connection INFO lines
    # Closing a cluster, the nannies kill workers slow to exit (TensorFlow's teardown): harmless.
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    specs = load_pair_specs(model)
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews
    t0 = time.perf_counter()
    scene_dir = args.work / f"batch-scenes-{args.size}-{args.profile}-{args.seed}"
    scenes = make_scenes(scene_dir, args.count, args.size, args.profile, args.seed)
    scenes_s = time.perf_counter() - t0
    runs = [run_workers(n, args, scenes, model) for n in worker_counts]

    by_workers = {r["workers"]: r for r in runs}
    summary: dict[str, Any] = {
        "scenes_per_hour": {str(r["workers"]): r["scenes_per_hour"] for r in runs},
        "max_worker_peak_rss_mib": {str(r["workers"]): r["max_worker_peak_rss_mib"] for r in runs},
    }
    if 1 in by_workers and 2 in by_workers:
        one, two = by_workers[1]["scenes_per_hour"], by_workers[2]["scenes_per_hour"]
        summary["speedup_2_vs_1"] = round(two / one, 3) if one else None
    payload = {
        "config": {
            "model": {
                "folder": str(model),
                "coarse": f"{specs.coarse.architecture}/{specs.coarse.backbone}",
                "fine": f"{specs.fine.architecture}/{specs.fine.backbone}",
                "bands": list(specs.bands),
                "provenance": specs.coarse.provenance,
            },
            "scenes": {
                "count": args.count,
                "shape": [len(specs.bands), args.size, args.size],
                "profile": args.profile,
                "seed": args.seed,
                "folder": str(scene_dir),
                "generation_s": round(scenes_s, 1),
            },
            "router": args.router,
            "batch_size": args.batch_size,
            "threads_per_worker": args.threads_per_worker,
            "measured": "steady state: after model loading and a warm-up scene per worker",
        },
        "runs": runs,
        "summary": summary,
        "client_peak_rss_mib": round(peak_rss_mib(), 1),
        "load_average_at_start": load_at_start,
    }
    argv_used = argv if argv is not None else sys.argv[1:]
    path = write_results(
        args.name, payload, f"python -m benchmarks.batch {shlex.join(argv_used)}".strip()
    )
    print(f"wrote {path}")
    for r in runs:
        print(
            f"{r['workers']} worker(s): {r['scenes_per_hour']} scenes/h "
            f"({r['scene_s_median']} s per scene), peak RSS per worker "
            f"{r['max_worker_peak_rss_mib']} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
