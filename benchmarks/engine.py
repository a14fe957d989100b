"""Engine benchmark: the cascade against the patch baseline on a full Sentinel-2-sized scene.

Run ``python -m benchmarks.engine`` (or ``make bench-engine``). It

1. writes a synthetic 10980 x 10980 x 7 uint16 scene to a tiled, deflate-compressed GeoTIFF
   (strip by strip), with a known class for every 248 x 248 cell: ``--partly`` of the cells
   Partly Cloudy (a cloud blob inside), 30 % Overcast, the rest Cloudless;
2. saves a model pair with random weights (coarse: resnet18 encoder; fine: U-Net/resnet18,
   the CPU-sized choices) and loads it from disk as ``cascade mask`` does;
3. runs ``mask_scene`` once per router, each in a fresh child process (so that peak RSS is
   per router), after a warm-up that compiles the kernels and traces the models:
   ``cascade`` and ``all`` (the patch baseline) through the same code path.

The models are untrained, so their Partly Cloudy answers would be arbitrary; ``cascade``
therefore routes by the scene's known cell classes (a callable router), which fixes the
routed fraction f at ``--partly``. The coarse model still runs on the full coarse input, so
its cost is measured. Reported: per-stage wall times, patches run, peak RSS, the speed-up
T_all / T_cascade and the ideal bound 1 / (f + c), c = coarse-stage time / T_all.

Targets (issue 3): speed-up >= 90 % of the bound; peak RSS < 3 GB with ``cascade``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS_DIR, write_results
from cascade.classes import CLOUDLESS, OVERCAST, PARTLY_CLOUDY
from cascade.geometry import SceneGeometry

BANDS = ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
WORK_DIR = Path(__file__).resolve().parent / "work"
SPEEDUP_FRACTION_TARGET = 0.9
RSS_TARGET_MIB = 3 * 1024


def make_scene(path: Path, size: int, partly: float, seed: int) -> np.ndarray:
    """Write the scene strip by strip; return its known (rows, cols) cell classes."""
    import rasterio
    from rasterio.transform import from_origin

    g = SceneGeometry(size, size)
    rng = np.random.default_rng(seed)
    n = g.n_cells
    classes = np.full(n, CLOUDLESS, np.uint8)
    order = rng.permutation(n)
    n_partly = round(partly * n)
    classes[order[:n_partly]] = PARTLY_CLOUDY
    classes[order[n_partly : n_partly + round(0.3 * n)]] = OVERCAST
    classes = classes.reshape(g.grid_shape)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": len(BANDS),
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": from_origin(300000, 5000040, 10, 10),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    c = g.core
    yy, xx = np.mgrid[0:c, 0:c]
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for b, name in enumerate(BANDS, start=1):
            dst.set_band_description(b, name)
        for row in range(g.rows):
            r0, r1 = row * c, min(size, (row + 1) * c)
            strip = rng.integers(600, 2600, size=(len(BANDS), c, g.cols * c), dtype=np.uint16)
            for col in range(g.cols):
                cls = classes[row, col]
                cells = strip[:, :, col * c : (col + 1) * c]
                if cls == OVERCAST:
                    cells[:] = rng.integers(6000, 8000, size=cells.shape, dtype=np.uint16)
                elif cls == PARTLY_CLOUDY:
                    cy, cx, rad = rng.integers(40, 208), rng.integers(40, 208), rng.integers(20, 90)
                    blob = (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2
                    cells[:, blob] = 7000
            dst.write(strip[:, : r1 - r0, :size], window=((r0, r1), (0, size)))
    os.replace(tmp, path)
    return classes


def make_models(folder: Path, coarse_backbone: str, fine_arch: str, fine_backbone: str) -> None:
    from cascade.artifacts import ModelSpec, Normalization
    from cascade.models import build_model, save_model

    norm = Normalization(scale=1e-4)
    prov = {"note": "random weights, for timing only"}
    specs = [
        ModelSpec(
            role="coarse",
            architecture="coarse-encoder",
            backbone=coarse_backbone,
            bands=BANDS,
            normalization=norm,
            provenance=prov,
        ),
        ModelSpec(
            role="fine",
            architecture=fine_arch,
            backbone=fine_backbone,
            bands=BANDS,
            normalization=norm,
            provenance=prov,
        ),
    ]
    for spec in specs:
        save_model(build_model(spec), spec, folder, overwrite=True)


def child(args: argparse.Namespace) -> None:
    """One router's run; prints a JSON record on the last line of stdout."""
    from cascade.engine import EngineConfig, load_cascade_model, mask_array, mask_scene

    classes = np.load(args.classes)
    model = load_cascade_model(args.model, batch_size=args.batch_size)

    def known_partly_cloudy(probabilities: np.ndarray) -> np.ndarray:
        return classes == PARTLY_CLOUDY

    router: Any = known_partly_cloudy if args.router == "cascade" else args.router
    config = EngineConfig(router=router, batch_size=args.batch_size)
    # Warm-up: compile the kernels and trace both models at the shapes the run will use.
    g = SceneGeometry(args.size, args.size)
    model.coarse(np.zeros((1, *g.coarse_shape, len(BANDS)), np.float32))
    warm = np.random.default_rng(0).integers(1, 5000, (len(BANDS), 700, 700), dtype=np.uint16)
    mask_array(warm, model, band_names=BANDS, nodata=0, config=EngineConfig(router="all"))
    model.fine(np.zeros((args.batch_size, 256, 256, len(BANDS)), np.float32))
    out = Path(args.out)
    t0 = time.perf_counter()
    result = mask_scene(args.scene, out, model, config=config, overwrite=True)
    wall = time.perf_counter() - t0
    record = {
        "router": args.router,
        "wall_s": round(wall, 3),
        "timings_s": result.report["timings_s"],
        "patches_run": result.report["patches_run"],
        "cells": result.report["cells"],
        "cells_per_class_coarse_model": result.report["cells_per_class"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    out.unlink()
    print(json.dumps(record))


def run_router(router: str, args: argparse.Namespace, scene: Path, classes: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.engine",
        "--child",
        "--router",
        router,
        "--scene",
        str(scene),
        "--classes",
        str(classes),
        "--model",
        str(args.work / "model"),
        "--size",
        str(args.size),
        "--batch-size",
        str(args.batch_size),
        "--out",
        str(args.work / f"mask-{router}.tif"),
    ]
    print(f"[{router}] running ...", file=sys.stderr, flush=True)
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child for router {router} failed:\n{proc.stderr[-4000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"[{router}] {record}", file=sys.stderr, flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__)
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--partly", type=float, default=0.2, help="Partly Cloudy cell fraction")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coarse-backbone", default="resnet18")
    parser.add_argument("--fine-arch", default="Unet")
    parser.add_argument("--fine-backbone", default="resnet18")
    parser.add_argument("--work", type=Path, default=WORK_DIR, help="scratch folder")
    parser.add_argument("--name", default="engine", help="results file name (no .json)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--router", help=argparse.SUPPRESS)
    parser.add_argument("--scene", help=argparse.SUPPRESS)
    parser.add_argument("--classes", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    args.work.mkdir(parents=True, exist_ok=True)
    scene = args.work / f"scene-{args.size}-{args.partly}-{args.seed}.tif"
    classes_path = scene.with_suffix(".classes.npy")
    t0 = time.perf_counter()
    if not (scene.exists() and classes_path.exists()):
        print(f"writing {scene} ...", file=sys.stderr, flush=True)
        np.save(classes_path, make_scene(scene, args.size, args.partly, args.seed))
    scene_s = time.perf_counter() - t0
    make_models(args.work / "model", args.coarse_backbone, args.fine_arch, args.fine_backbone)

    runs = {r: run_router(r, args, scene, classes_path) for r in ("cascade", "all")}
    cas, base = runs["cascade"], runs["all"]
    n_cells = base["cells"]
    f = cas["patches_run"] / n_cells
    t_cas, t_all = cas["timings_s"]["total"], base["timings_s"]["total"]
    coarse_stage = sum(cas["timings_s"][k] for k in ("read_and_pool", "coarse", "route"))
    c = coarse_stage / t_all
    bound = 1.0 / (f + c)
    speedup = t_all / t_cas
    summary = {
        "routed_fraction_f": round(f, 4),
        "coarse_stage_s": round(coarse_stage, 3),
        "coarse_cost_c": round(c, 4),
        "ideal_bound": round(bound, 3),
        "speedup": round(speedup, 3),
        "speedup_over_bound": round(speedup / bound, 3),
        "meets_speedup_target": speedup / bound >= SPEEDUP_FRACTION_TARGET,
        "cascade_peak_rss_mib": cas["peak_rss_mib"],
        "meets_rss_target": cas["peak_rss_mib"] < RSS_TARGET_MIB,
        "speedup_including_write": round(base["wall_s"] / cas["wall_s"], 3),
    }
    payload = {
        "config": {
            "scene": {
                "shape": [len(BANDS), args.size, args.size],
                "dtype": "uint16",
                "file": "tiled 512, deflate GeoTIFF",
                "partly_cloudy_fraction": args.partly,
                "seed": args.seed,
                "generation_s": round(scene_s, 1),
            },
            "models": {
                "coarse": f"coarse-encoder/{args.coarse_backbone}",
                "fine": f"{args.fine_arch}/{args.fine_backbone}",
                "weights": "random",
            },
            "batch_size": args.batch_size,
            "routing": "cascade routes the known Partly Cloudy cells (untrained models)",
        },
        "runs": runs,
        "summary": summary,
    }
    argv_used = argv if argv is not None else sys.argv[1:]
    path = write_results(
        args.name, payload, f"python -m benchmarks.engine {shlex.join(argv_used)}".strip()
    )
    print(f"wrote {path}")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    RESULTS_DIR.mkdir(exist_ok=True)
    raise SystemExit(main())
