"""Coarse encoders (the paper's Table III): the cascade with several coarse encoders against
the patch baseline and coarse-only, with one fine model.

1. Uses the loss ablation's simulated training set (``benchmarks/work/ablation-<profile>``,
   simulated and derived here if the ablation has not run), normalised like the shipped
   ``sentinel2-l1c-7`` pair.
2. Trains one coarse model per encoder of the profile's ``encoders`` (MobileNetV2, the shipped
   pairs' encoder, and the paper's VGG16, ResNet-50 and InceptionV3, each cut at its stride-32
   bottleneck) with the WCE arm's recipe (Eq. 2 with the paper's weights, gamma = 0 as for
   the paper's Table III), the same seed, set and number of steps.
3. Scores each, paired with the shipped fine model, on the ablation's held-out simulated scenes:
   ``<encoder> -> Fine`` (router ``cascade``) and ``<encoder> -> None`` (router ``none``:
   Partly Cloudy cells become cloud, the paper's naive mapping), and once the patch baseline
   (router ``all``: the fine model on every window, whatever the coarse model says), with the
   paper's columns: pixel accuracy, precision, recall, F1, IoU, and the coarse cell accuracy.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from benchmarks.suite import Suite, warm_up
from benchmarks.suite_ablation import (
    PAIR,
    PAPER_ALPHA,
    PAPER_BETA,
    _derive,
    _evaluate,
    _train,
    eval_scenes,
    recipe_text,
    training_scenes,
    with_coarse,
)

# The paper's Table III (its dataset: 24 Sentinel-2 test scenes with hand-drawn masks): acc,
# prec, recall, F1, IoU; "None" maps Partly Cloudy to cloud, "CNN baseline" is the patch model.
PAPER_TABLE_III = {
    "ResNet-50 -> Fine": (0.810, 0.774, 0.684, 0.680, 0.550),
    "InceptionV3 -> Fine": (0.827, 0.800, 0.651, 0.662, 0.542),
    "VGG16 -> Fine": (0.856, 0.810, 0.711, 0.711, 0.597),
    "InceptionV3 -> None": (0.779, 0.634, 0.759, 0.628, 0.510),
    "ResNet-50 -> None": (0.769, 0.632, 0.777, 0.647, 0.516),
    "VGG16 -> None": (0.800, 0.624, 0.839, 0.666, 0.551),
    "CNN baseline": (0.737, 0.718, 0.643, 0.617, 0.494),
}
NAMES = {
    "mobilenetv2": "MobileNetV2",
    "vgg16": "VGG16",
    "resnet50": "ResNet-50",
    "inceptionv3": "InceptionV3",
    "resnet18": "ResNet-18",
}
SEED = 0


def _log(msg: str) -> None:
    print(f"[encoders] {msg}", file=sys.stderr, flush=True)


def _name(backbone: str) -> str:
    return NAMES.get(backbone, backbone)


def run(suite: Suite) -> dict[str, Any]:
    from cascade.engine import load_cascade_model
    from cascade.models.pretrained import resolve_model
    from training.recipe import load_recipe

    p = suite.profile
    if not p.encoders:
        raise SystemExit(f"profile {p.name!r} names no coarse encoders (Profile.encoders)")
    root = suite.work / f"ablation-{p.name}"
    data = root / "data"
    infos = training_scenes(suite, data)
    shipped = load_cascade_model(resolve_model(PAIR))
    paths = {}
    for backbone in p.encoders:
        folder = root / "encoders" / backbone
        folder.mkdir(parents=True, exist_ok=True)
        arm = (PAPER_ALPHA, PAPER_BETA, 0.0, "paper")
        path = folder / "recipe.toml"
        path.write_text(
            recipe_text(suite, f"WCE {_name(backbone)}", data, SEED, arm, backbone=backbone)
        )
        paths[backbone] = path
    set_info = _derive(next(iter(paths.values())), root / "set", shipped.coarse_spec.normalization)
    trained = {
        backbone: _train(path, root / "set", suite.work, _name(backbone))
        for backbone, path in paths.items()
    }
    scenes = eval_scenes(suite)
    shapes = {sc.paper.shape for sc in scenes}
    rows = []
    for backbone, path in paths.items():
        weights = load_recipe(path).work_dir / "coarse.final.weights.h5"
        model = with_coarse(shipped, backbone, weights, f"encoders-{backbone}")
        warm_up(model, *shapes)
        for router, label in (("cascade", "Fine"), ("none", "None")):
            t0 = time.perf_counter()
            row = _evaluate(f"{_name(backbone)} -> {label}", model, scenes, router)
            row.update(encoder=backbone, router=router, seconds=round(time.perf_counter() - t0, 1))
            rows.append(row)
            _log(str(row))
    warm_up(shipped, *shapes)
    t0 = time.perf_counter()
    base = _evaluate("patch baseline (all)", shipped, scenes, "all")
    base.update(encoder=None, router="all", seconds=round(time.perf_counter() - t0, 1))
    rows.append(base)
    return {
        "profile": p.to_dict(),
        "training_scenes": infos,
        "training_set": set_info,
        "trained": {_name(b): t for b, t in trained.items()},
        "encoders": list(p.encoders),
        "params": {_name(b): _params(b, len(shipped.bands)) for b in p.encoders},
        "eval_scenes": [
            {"seed": s.info.get("seed"), "size": p.sim_size, "cloud": s.info.get("config")}
            for s in scenes
        ],
        "rows": rows,
        "paper": {
            k: dict(zip(("accuracy", "precision", "recall", "f1", "iou"), v, strict=True))
            for k, v in PAPER_TABLE_III.items()
        },
    }


def _params(backbone: str, bands: int) -> int:
    from cascade.models import build_coarse_model

    return int(build_coarse_model(backbone, bands).count_params())
