"""A shipped model pair on a full-size held-out simulated Sentinel-2 scene: speed and accuracy.

    python -m benchmarks.shipped [--pair sentinel2-l1c-7] [--size 10980] [--seed 999]

1. Simulates a 10980 x 10980 x 7 scene over the real Virginia background (seed 999: not among
   the training scenes, whose seeds are 0-39) with 35 % cloud cover, cirrus and a No Data
   wedge, once (kept in ``benchmarks/work/``);
2. loads the pair once, warms it up (kernels compiled, both models traced), then masks the
   scene from disk with ``cascade`` (the real coarse model decides what is routed) and with
   ``all`` (the patch baseline, the same fine model on every cell), side by side in this
   process; peak RSS is read after the cascade run (it goes first);
3. scores both masks against the simulator's exact mask and its paper-style annotation.

Results: ``benchmarks/results/shipped.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import peak_rss_mib, write_results
from benchmarks.accuracy import metrics

WORK = Path(__file__).resolve().parent / "work"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shipped", description=__doc__)
    parser.add_argument("--pair", default="sentinel2-l1c-7")
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)

    import rasterio

    from cascade.engine import EngineConfig, load_cascade_model, mask_array, mask_scene
    from cascade.pretrained import resolve_model
    from cascade.simulate import CloudConfig, write_scene

    args.work.mkdir(parents=True, exist_ok=True)
    name = f"heldout-{args.size}-{args.seed}"
    scene = args.work / f"{name}.tif"
    cloud = CloudConfig(cover=0.35, scale_px=1500, cirrus=0.2, nodata_wedge=0.1)
    if not scene.exists():
        print(f"simulating {scene} ...", file=sys.stderr, flush=True)
        write_scene(
            args.work,
            name,
            args.size,
            args.size,
            profile="sentinel2-l1c-7",
            config=cloud,
            seed=args.seed,
            overwrite=True,
        )
    folder = resolve_model(args.pair)
    model = load_cascade_model(folder)
    g = model.geometry(args.size, args.size)
    model.coarse(np.zeros((1, *g.coarse_shape, len(model.bands)), np.float32))
    warm = np.random.default_rng(0).integers(1, 5000, (len(model.bands), 700, 700), np.uint16)
    mask_array(warm, model, band_names=model.bands, nodata=0, config=EngineConfig(router="all"))

    runs: dict[str, Any] = {}
    masks: dict[str, np.ndarray] = {}
    for router in ("cascade", "all"):
        out = args.work / f"{name}-mask-{router}.tif"
        print(f"[{router}] masking ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        res = mask_scene(scene, out, model, config=EngineConfig(router=router), overwrite=True)
        wall = time.perf_counter() - t0
        masks[router] = res.mask
        runs[router] = {
            "wall_s": round(wall, 2),
            "timings_s": res.report["timings_s"],
            "patches_run": res.report["patches_run"],
            "cells": res.report["cells"],
            "cells_per_class": res.report["cells_per_class"],
        }
        if router == "cascade":
            runs[router]["peak_rss_mib"] = round(peak_rss_mib(), 1)
        out.unlink()
        print(f"[{router}] {runs[router]}", file=sys.stderr, flush=True)

    scores: dict[str, Any] = {}
    for label in ("mask_exact", "mask"):
        with rasterio.open(args.work / f"{name}_{label}.tif") as ds:
            truth = ds.read(1)
        scores[label] = {r: metrics(m, truth) for r, m in masks.items()}
    t_cas = runs["cascade"]["timings_s"]["total"]
    t_all = runs["all"]["timings_s"]["total"]
    f = runs["cascade"]["patches_run"] / max(1, runs["all"]["patches_run"])
    coarse = sum(runs["cascade"]["timings_s"][k] for k in ("read_and_pool", "coarse", "route"))
    summary = {
        "speedup": round(t_all / t_cas, 3),
        "routed_fraction_f": round(f, 4),
        "coarse_stage_s": round(coarse, 2),
        # Everything but the fine stage is paid by both runs; the fine stage scales with f.
        "ideal_bound": round(t_all / (coarse + f * runs["all"]["timings_s"]["fine"]), 3),
        "f1_exact": {r: scores["mask_exact"][r]["f1"] for r in runs},
        "accuracy_exact": {r: scores["mask_exact"][r]["accuracy"] for r in runs},
        "agreement_cascade_vs_all": round(float(np.mean(masks["cascade"] == masks["all"])), 4),
    }
    payload = {
        "config": {
            "pair": args.pair,
            "scene": {"size": args.size, "seed": args.seed, "cloud": cloud.to_dict()},
        },
        "runs": runs,
        "scores": scores,
        "summary": summary,
    }
    argv_used = argv if argv is not None else sys.argv[1:]
    path = write_results(
        "shipped", payload, f"python -m benchmarks.shipped {shlex.join(argv_used)}".strip()
    )
    print(f"wrote {path}")
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
