"""Accuracy of the shipped model pairs on the real labelled data in ``../shared/data``.

(The first, standalone version of the accuracy benchmark; the suite of
``python -m benchmarks run`` (:mod:`benchmarks.suite_accuracy`) reuses its cases and adds
simulated scenes, s2cloudless and the full statistics.)

    python -m benchmarks.accuracy [--data-dir DIR] [--models sentinel2-l1c-7,rgbn]

Cases (each as far as its bands allow):

- ``ukis/landsat7.npz``, ``ukis/landsat5.npz``: Landsat 7 / 5 TOA reflectance with reference
  labels (cloud vs everything else), the ``rgbn`` pair;
- the 38-Cloud patch (Landsat 8, human labels), the ``rgbn`` pair; its reflectance lacks the
  sun-elevation correction (the data README says so), which darkens it;
- the s2cloudless scene: *agreement* with s2cloudless's own mask (an algorithm, not a truth),
  both pairs (``sentinel2-l1c-7`` on its seven bands, ``rgbn`` on B02/B03/B04/B08).
  s2cloudless itself needs ten Sentinel-2 bands, so it has no row on the Landsat data.

Every case runs the three routers on the same loaded models: ``cascade`` (fine model on
Partly Cloudy cells), ``all`` (the patch baseline: fine model everywhere) and ``none``
(coarse only). Pixel metrics count cloud as positive; pixels without data or label are left
out. Results: ``benchmarks/results/accuracy.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import write_results
from benchmarks.stats import scores

ROUTERS = ("cascade", "all", "none")


def metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | int | None]:
    """Cloud-positive pixel metrics where both have data (0 clear, 1 cloud, 255 no data)."""
    s = scores(pred, truth)
    n = s["pixels"]
    return {
        "pixels": n,
        **{k: s[k] for k in ("accuracy", "precision", "recall", "f1", "iou")},
        "cloud_fraction_truth": s["prevalence"],
        "cloud_fraction_pred": round((s["tp"] + s["fp"]) / n, 4) if n else None,
    }


def _one(got: Any) -> Any:
    """A reader's scene (readers of time series return a list)."""
    return got[0] if isinstance(got, list) else got


def _cases(data: Path) -> list[dict[str, Any]]:
    from cascade.datasets import read_dataset

    cases: list[dict[str, Any]] = []
    for sensor in ("landsat7", "landsat5"):
        s = _one(read_dataset("ukis", data / "ukis" / f"{sensor}.npz"))
        cases.append(
            {
                "case": f"ukis {sensor}",
                "labels": "reference",
                "pairs": ["rgbn"],
                "bands": s.bands,
                "names": s.band_names,
                "truth": s.mask,
            }
        )
    c = _one(read_dataset("38cloud", data / "38cloud_sample"))
    rows, cols = np.nonzero(c.mask != 255)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cases.append(
        {
            "case": "38-Cloud patch",
            "labels": "human",
            "pairs": ["rgbn"],
            "bands": np.ascontiguousarray(c.bands[:, r0:r1, c0:c1]),
            "names": c.band_names,
            "truth": c.mask[r0:r1, c0:c1],
        }
    )
    s2 = _one(read_dataset("s2cloudless", data / "s2cloudless_scene" / "input_arrays.npz"))
    cases.append(
        {
            "case": "s2cloudless scene",
            "labels": "s2cloudless (agreement)",
            "pairs": ["sentinel2-l1c-7", "rgbn"],
            "bands": s2.bands,
            "names": s2.band_names,
            "truth": s2.mask,
        }
    )
    return cases


def run(data: Path, pairs: list[str]) -> dict[str, Any]:
    from cascade.engine import EngineConfig, load_cascade_model, mask_array
    from cascade.pretrained import resolve_model

    models = {name: load_cascade_model(resolve_model(name)) for name in pairs}
    rows = []
    for case in _cases(data):
        for pair in case["pairs"]:
            if pair not in models:
                continue
            model = models[pair]
            for router in ROUTERS:
                # Every case holds reflectance already: scale 1 whatever the model's DN scale.
                cfg = EngineConfig(router=router, input_scale=1.0)
                mask_array(case["bands"][:, :64, :64], model, band_names=case["names"], config=cfg)
                t0 = time.perf_counter()
                res = mask_array(case["bands"], model, band_names=case["names"], config=cfg)
                seconds = time.perf_counter() - t0
                row = {
                    "case": case["case"],
                    "labels": case["labels"],
                    "model": pair,
                    "router": router,
                    "shape": list(case["truth"].shape),
                    "patches_run": res.report["patches_run"],
                    "cells": res.report["cells"],
                    "seconds": round(seconds, 3),
                    **metrics(res.mask, case["truth"]),
                }
                rows.append(row)
                print(
                    f"{row['case']:<20} {pair:<16} {router:<8} acc {row['accuracy']} "
                    f"f1 {row['f1']} iou {row['iou']} ({row['patches_run']}/{row['cells']} "
                    f"patches, {seconds:.1f} s)",
                    file=sys.stderr,
                )
    return {"rows": rows}


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the rows."""
    out = [
        "| data (labels) | model | router | accuracy | precision | recall | F1 | IoU | "
        "fine patches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['case']} ({r['labels']}) | {r['model']} | {r['router']} | {r['accuracy']} | "
            f"{r['precision']} | {r['recall']} | {r['f1']} | {r['iou']} | "
            f"{r['patches_run']}/{r['cells']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    from cascade.simulate import _data_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--models", default="sentinel2-l1c-7,rgbn")
    args = parser.parse_args(argv)
    data = _data_root(args.data_dir)
    if not (data / "ukis").is_dir():
        sys.exit(f"no labelled data under {data}; pass --data-dir or set $CASCADE_DATA")
    result = run(data, [p for p in args.models.split(",") if p])
    command = "python -m benchmarks.accuracy " + " ".join(argv or sys.argv[1:])
    path = write_results("accuracy", result, command.strip())
    print(table(result["rows"]))
    print(f"\nwrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
