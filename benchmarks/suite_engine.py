"""Engine suite: the cascade against the patch baseline on a scene read from disk.

``python -m benchmarks run full --only engine`` (``make bench-engine``). It

1. writes a synthetic ``engine_size`` x ``engine_size`` x 7 uint16 scene (10980 in the
   ``full`` profile) to a tiled, deflate-compressed GeoTIFF strip by strip, with a known class
   for every 248 x 248 cell: ``engine_partly`` of the cells Partly Cloudy (a cloud blob
   inside), 30 % Overcast, the rest Cloudless;
2. saves a model pair with random weights (``engine_backbone``, resnet18 in the profiles:
   a resnet18 coarse encoder and a U-Net/resnet18, the CPU-sized choices) and loads it from
   disk as ``cascade mask`` does;
3. runs ``mask_scene`` once per router, each in a fresh process when ``engine_isolated`` (so
   that peak RSS is per router), after the suites' warm-up (:func:`benchmarks.suite.warm_up`):
   ``cascade`` and ``all`` (the patch baseline) through the same code path.

The models are untrained, so their Partly Cloudy answers would be arbitrary; ``cascade``
therefore routes by the scene's known cell classes (a callable router), which fixes the
routed fraction f at ``engine_partly``. The coarse model still runs on the full coarse input,
so its cost is measured. Reported: per-stage wall times, patches run, peak RSS, the speed-up
T_all / T_cascade and the ideal bound 1 / (f + c), c = coarse-stage time / T_all.

Targets (issue 3): speed-up >= 90 % of the bound; peak RSS < 3 GB with ``cascade``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import peak_rss_mib
from benchmarks.suite import Suite, warm_up
from cascade.classes import CLOUDLESS, OVERCAST, PARTLY_CLOUDY
from cascade.geometry import SceneGeometry

BANDS = ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
BATCH_SIZE = 8
SPEEDUP_FRACTION_TARGET = 0.9
RSS_TARGET_MIB = 3 * 1024


def make_scene(path: Path, size: int, partly: float, seed: int) -> np.ndarray:
    """Write the scene strip by strip; return its known (rows, cols) cell classes."""
    from cascade.io.raster import raster_writer, utm_transform

    g = SceneGeometry(size, size)
    rng = np.random.default_rng(seed)
    n = g.n_cells
    classes = np.full(n, CLOUDLESS, np.uint8)
    order = rng.permutation(n)
    n_partly = round(partly * n)
    classes[order[:n_partly]] = PARTLY_CLOUDY
    classes[order[n_partly : n_partly + round(0.3 * n)]] = OVERCAST
    classes = classes.reshape(g.grid_shape)
    crs, transform = utm_transform(10.0)
    c = g.core
    yy, xx = np.mgrid[0:c, 0:c]
    with raster_writer(
        path,
        height=size,
        width=size,
        count=len(BANDS),
        dtype="uint16",
        crs=crs,
        transform=transform,
        nodata=0,
        descriptions=BANDS,
        overwrite=True,
        layout="tiled",
    ) as dst:
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
            dst.write(strip[:, : r1 - r0, :size], r0)
    return classes


def make_models(folder: Path, coarse_backbone: str, fine_arch: str, fine_backbone: str) -> None:
    from cascade.models import build_model, save_model
    from cascade.models.artifacts import ModelSpec, Normalization

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


def time_router(
    router: str, scene: Path, classes: np.ndarray, model_dir: Path, out: Path
) -> dict[str, Any]:
    """One router's run on the scene, after the shared warm-up."""
    from cascade.engine import EngineConfig, load_cascade_model, mask_scene

    model = load_cascade_model(model_dir, batch_size=BATCH_SIZE)

    def known_partly_cloudy(probabilities: np.ndarray) -> np.ndarray:
        return classes == PARTLY_CLOUDY

    router_fn: Any = known_partly_cloudy if router == "cascade" else router
    # Any scene of the same cell grid has the same coarse input shape.
    size = int(classes.shape[0] * model.geometry(1, 1).core)
    warm_up(model, (size, size))
    t0 = time.perf_counter()
    config = EngineConfig(router_fn, batch_size=BATCH_SIZE)
    result = mask_scene(scene, out, model, config=config, overwrite=True)
    wall = time.perf_counter() - t0
    out.unlink()
    return {
        "router": router,
        "wall_s": round(wall, 3),
        "timings_s": result.report["timings_s"],
        "patches_run": result.report["patches_run"],
        "cells": result.report["cells"],
        "cells_per_class_coarse_model": result.report["cells_per_class"],
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def run_router(
    router: str, work: Path, scene: Path, classes: Path, isolated: bool
) -> dict[str, Any]:
    """:func:`time_router` in a fresh process (``isolated``) or in this one."""
    out = work / f"mask-{router}.tif"
    if not isolated:
        return time_router(router, scene, np.load(classes), work / "model", out)
    cmd = [sys.executable, "-m", "benchmarks.suite_engine", router, str(scene), str(classes)]
    cmd += [str(work / "model"), str(out)]
    print(f"[{router}] running ...", file=sys.stderr, flush=True)
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child for router {router} failed:\n{proc.stderr[-4000:]}")
    record: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"[{router}] {record}", file=sys.stderr, flush=True)
    return record


def _summary(cas: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    f = cas["patches_run"] / base["cells"]
    t_cas, t_all = cas["timings_s"]["total"], base["timings_s"]["total"]
    coarse_stage = sum(cas["timings_s"][k] for k in ("read_and_pool", "coarse", "route"))
    c = coarse_stage / t_all
    bound = 1.0 / (f + c)
    speedup = t_all / t_cas
    return {
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


def run(suite: Suite) -> dict[str, Any]:
    """The suite's record (see the module doc)."""
    p = suite.profile
    size, partly, seed = p.engine_size, p.engine_partly, p.seed
    work = suite.work / "engine"
    work.mkdir(parents=True, exist_ok=True)
    scene = work / f"scene-{size}-{partly}-{seed}.tif"
    classes_path = scene.with_suffix(".classes.npy")
    t0 = time.perf_counter()
    if not (scene.exists() and classes_path.exists()):
        print(f"writing {scene} ...", file=sys.stderr, flush=True)
        np.save(classes_path, make_scene(scene, size, partly, seed))
    scene_s = time.perf_counter() - t0
    backbone = p.engine_backbone
    make_models(work / "model", backbone, "Unet", backbone)
    runs = {
        r: run_router(r, work, scene, classes_path, p.engine_isolated) for r in ("cascade", "all")
    }
    return {
        "config": {
            "scene": {
                "shape": [len(BANDS), size, size],
                "dtype": "uint16",
                "file": "tiled 512, deflate GeoTIFF",
                "partly_cloudy_fraction": partly,
                "seed": seed,
                "generation_s": round(scene_s, 1),
            },
            "models": {"coarse": f"coarse-encoder/{backbone}", "fine": f"Unet/{backbone}"},
            "weights": "random",
            "batch_size": BATCH_SIZE,
            "isolated": p.engine_isolated,
            "routing": "cascade routes the known Partly Cloudy cells (untrained models)",
        },
        "runs": runs,
        "summary": _summary(runs["cascade"], runs["all"]),
    }


def _child(argv: list[str]) -> None:
    """``python -m benchmarks.suite_engine ROUTER SCENE CLASSES MODEL OUT``: one router's
    record as JSON on the last line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite_engine")
    for name in ("router", "scene", "classes", "model", "out"):
        parser.add_argument(name)
    a = parser.parse_args(argv)
    record = time_router(a.router, Path(a.scene), np.load(a.classes), Path(a.model), Path(a.out))
    print(json.dumps(record))


if __name__ == "__main__":
    _child(sys.argv[1:])
