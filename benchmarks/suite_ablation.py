"""Loss ablation (the paper's Table IV): coarse models trained with CCE, WCE and WCE + adjacency.

1. Simulates a training set (7-band Sentinel-2 scenes over the Virginia background, seeds
   700+, cloud cover, size, brightness and cloud top drawn per scene) and derives it once
   (:func:`training.derive.derive`). The set's normalisation is replaced by the shipped
   ``sentinel2-l1c-7`` pair's, so every ablation coarse model can be paired with the shipped
   fine model.
2. Trains, per training seed, coarse models from the same initial seed on the same set with
   the recipe of ``training/recipes/sentinel2-l1c-7.toml`` (MobileNetV2 encoder, Adam) for the
   same number of steps: a first stage of ``epochs`` and a second of ``finetune_epochs`` at a
   tenth of the rate. Only the loss differs, as in the paper's Section V-D: **CCE** (the plain
   categorical cross entropy, gamma = 0 in both stages), **WCE** (Eq. 2 with alpha = 2, beta =
   0.5 for Partly Cloudy and 1 for the others, gamma = 0), **WCE + adjacency** (the same, then
   gamma = 1 in the second stage with the paper's pair weights). The two WCE arms share one
   first stage (``WCE stage 1``); both second stages start from its weights (recipe
   ``init_weights``, a fresh optimiser), so they differ only in gamma.
3. Scores each, paired with the shipped fine model, on held-out simulated scenes against the
   paper-style labels: coarse cell accuracy, S_dn of the predicted grid (Overcast next to
   Cloudless) and the final pixel accuracy of the cascade. The shipped pair is scored too.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import plots
from benchmarks.stats import coarse_accuracy, rates, s_dn, scores
from benchmarks.suite import ABLATION_EVAL_SEED, ABLATION_TRAIN_SEED, Suite, warm_up

PAIR = "sentinel2-l1c-7"
PAPER_ALPHA, PAPER_BETA = [1.0, 2.0, 1.0, 1.0], [1.0, 0.5, 1.0, 1.0]
# The shared first stage of the WCE arms: Eq. 2 with the paper's weights, no second stage.
WCE_STAGE = "WCE stage 1"
VARIANTS = {
    # name: (alpha, beta, gamma, loss form, from the WCE first stage); CCE is the "earlier"
    # form's class-weighted categorical cross entropy with unit weights, Keras's categorical
    # cross entropy (a test checks it), and gamma 0. The two WCE arms share their first stage
    # (the paper's "second stage started from the WCE weights"): their second stages start from
    # the same weights with a fresh optimiser and differ only in gamma, a paired comparison.
    "CCE": ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], 0.0, "earlier", False),
    "WCE": (PAPER_ALPHA, PAPER_BETA, 0.0, "paper", True),
    "WCE + adjacency": (PAPER_ALPHA, PAPER_BETA, 1.0, "paper", True),
}

_RECIPE = """\
# Written by benchmarks/suite_ablation.py: the {variant} arm of the loss ablation, seed {seed}.
name = "ablation-{slug}"
profile = "sentinel2-l1c-7"
seed = {seed}
work_dir = "."

[data]
sources = [{{ kind = "pairs", path = "{data}" }}]

[derive]
patch = 256
margin = 4
stride = 32
grid = 5
fine_windows_per_scene = 1
val_fraction = 0.2

[coarse]
backbone = "{backbone}"
epochs = {epochs}
steps_per_epoch = {steps}
validation_steps = {val_steps}
finetune_epochs = {finetune}
batch_size = 8
learning_rate = 0.001
optimizer = "adam"
patience = 100
alpha = {alpha}
beta = {beta}
gamma = {gamma}
loss_form = "{loss_form}"
{init}"""


def _log(msg: str) -> None:
    print(f"[ablation] {msg}", file=sys.stderr, flush=True)


def _slug(name: str) -> str:
    return name.lower().replace(" + ", "-").replace(" ", "-")


def training_scenes(suite: Suite, folder: Path) -> list[dict[str, Any]]:
    """Simulate the ablation's training scenes into ``folder`` (kept between runs)."""
    from training.simulator import random_cloud_config, write_scene

    p = suite.profile
    rng = np.random.default_rng(p.seed)
    infos = []
    for i in range(p.ablation_scenes):
        # The shared draw of `cascade simulate`, with thin cirrus and a No Data wedge in
        # every third scene.
        wedge = float(rng.choice([0.0, 0.0, 0.1]))
        cfg = random_cloud_config(rng, cirrus=0.15, nodata_wedge=wedge)
        name = f"train-{ABLATION_TRAIN_SEED + i}"
        if not (folder / f"{name}.tif").exists() or not (folder / f"{name}_mask.tif").exists():
            write_scene(
                folder,
                name,
                p.ablation_size,
                p.ablation_size,
                profile="sentinel2-l1c-7",
                config=cfg,
                seed=ABLATION_TRAIN_SEED + i,
                overwrite=True,
            )
        infos.append({"name": name, "seed": ABLATION_TRAIN_SEED + i, "cloud": cfg.to_dict()})
    return infos


def recipe_text(
    suite: Suite,
    variant: str,
    data: Path,
    seed: int,
    arm: tuple[list[float], list[float], float, str],
    *,
    backbone: str = "mobilenetv2",
    epochs: int | None = None,
    finetune: int | None = None,
    init: Path | None = None,
) -> str:
    """The recipe of one arm: the profile's training length unless ``epochs`` / ``finetune``
    say otherwise, starting from ``init`` weights when given."""
    p = suite.profile
    alpha, beta, gamma, loss_form = arm
    return _RECIPE.format(
        variant=variant,
        seed=seed,
        slug=_slug(variant),
        data=data.resolve(),
        backbone=backbone,
        epochs=p.ablation_epochs if epochs is None else epochs,
        steps=p.ablation_steps,
        val_steps=max(1, p.ablation_steps // 5),
        finetune=p.ablation_finetune_epochs if finetune is None else finetune,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        loss_form=loss_form,
        init=f'init_weights = "{init.resolve()}"\n' if init else "",
    )


def _recipes(suite: Suite, root: Path, data: Path, seed: int) -> dict[str, Path]:
    """The recipes of one seed, the shared WCE first stage first."""
    paths = {}
    stage1 = root / _slug(WCE_STAGE) / f"seed-{seed}"
    arms: dict[str, tuple[Any, ...]] = {
        WCE_STAGE: (PAPER_ALPHA, PAPER_BETA, 0.0, "paper", None),
        **VARIANTS,
    }
    for variant, (alpha, beta, gamma, loss_form, staged) in arms.items():
        folder = root / _slug(variant) / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        if variant == WCE_STAGE:
            text = recipe_text(
                suite, variant, data, seed, (alpha, beta, gamma, loss_form), finetune=0
            )
        elif staged:
            text = recipe_text(
                suite,
                variant,
                data,
                seed,
                (alpha, beta, gamma, loss_form),
                epochs=0,
                init=stage1 / "coarse_wce.best.weights.h5",
            )
        else:
            text = recipe_text(suite, variant, data, seed, (alpha, beta, gamma, loss_form))
        path = folder / "recipe.toml"
        path.write_text(text)
        paths[variant] = path
    return paths


def _derive(recipe_path: Path, set_dir: Path, shipped_norm: Any) -> dict[str, Any]:
    """Derive the shared training set once; give it the shipped pair's normalisation."""
    import h5py

    from training.derive import derive
    from training.recipe import load_recipe

    recipe = load_recipe(recipe_path)
    names, scenes = recipe.scenes()
    if _set_scenes(set_dir / "coarse.h5") != sorted(names):  # absent, or of other scenes
        derive(scenes, set_dir, recipe.derive, scene_names=names, overwrite=True)
    from training.derive import SPLITS

    with h5py.File(set_dir / "coarse.h5", "r+") as h5:
        h5.attrs["norm_mean"] = np.asarray(shipped_norm.mean, np.float32)
        h5.attrs["norm_std"] = np.asarray(shipped_norm.std, np.float32)
        split = h5["split"][:]
        return {
            "coarse_samples": int(h5["x"].shape[0]),
            "sample_shape": list(h5["x"].shape[1:]),
            "per_split": {name: int(np.sum(split == i)) for i, name in enumerate(SPLITS)},
        }


def _set_scenes(path: Path) -> list[str] | None:
    """The scene names a derived set was made from, or None when there is no set."""
    import json

    import h5py

    if not path.exists():
        return None
    with h5py.File(path, "r") as h5:
        return sorted(json.loads(h5.attrs.get("scenes", "[]")))


def _evaluate(
    name: str, model: Any, scenes: list[Any], pixel_router: str = "cascade"
) -> dict[str, Any]:
    from cascade.engine import EngineConfig, mask_array
    from cascade.kernels import pool_labels

    cells_ok, cells_n, sdn, conf = 0, 0, [], {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    patches = 0
    for s in scenes:
        res = mask_array(
            s.reflectance,
            model,
            band_names=s.band_names,
            config=EngineConfig(router=pixel_router, input_scale=1.0),
        )
        truth_cells = pool_labels(s.paper, res.geometry)
        cells_ok += round(coarse_accuracy(res.cell_classes, truth_cells) * truth_cells.size)
        cells_n += truth_cells.size
        sdn.append(s_dn(res.cell_classes))
        sc = scores(res.mask, s.paper)
        for k in conf:
            conf[k] += sc[k]
        patches += res.report["patches_run"]
    r = rates(conf)
    return {
        "loss": name,
        "coarse_accuracy": round(cells_ok / cells_n, 4),
        "pixel_accuracy": round(r["accuracy"] or 0.0, 4),
        "pixel_f1": round(r["f1"] or 0.0, 4),
        "pixel_precision": round(r["precision"] or 0.0, 4),
        "pixel_recall": round(r["recall"] or 0.0, 4),
        "pixel_iou": round(r["iou"] or 0.0, 4),
        "s_dn": round(float(np.mean([v for v in sdn if v is not None])), 5),
        "patches_run": patches,
        **conf,
    }


def eval_scenes(suite: Suite) -> list[Any]:
    """The held-out simulated scenes the coarse models are scored on (seeds from
    ABLATION_EVAL_SEED, covers of EVAL_COVERS in turn)."""
    from training.simulator import CloudConfig, simulate

    p = suite.profile
    return [
        simulate(
            p.sim_size,
            p.sim_size,
            config=CloudConfig(cover=c, scale_px=900, cirrus=0.15),
            seed=ABLATION_EVAL_SEED + i,
        )
        for i, c in zip(range(p.ablation_eval_scenes), itertools.cycle(EVAL_COVERS), strict=False)
    ]


def with_coarse(shipped: Any, backbone: str, weights: Path, name: str) -> Any:
    """The shipped pair with its coarse model replaced by ``backbone`` with ``weights``."""
    from cascade.engine import CascadeModel
    from cascade.models import build_coarse_model
    from cascade.models.predict import KerasPredictor

    keras_model = build_coarse_model(backbone, len(shipped.bands))
    keras_model.load_weights(weights)
    return CascadeModel(
        KerasPredictor(keras_model, batch_size=1),
        shipped.fine,
        shipped.coarse_spec,
        shipped.fine_spec,
        name=name,
    )


# Cloud cover of the evaluation scenes, in turn.
EVAL_COVERS = (0.35, 0.2, 0.5, 0.1, 0.65, 0.3)
METRICS = ("coarse_accuracy", "pixel_accuracy", "pixel_f1", "s_dn")


def _train(path: Path, set_dir: Path, work: Path, key: str) -> dict[str, Any]:
    """Train one arm's coarse model on the shared set (a link to it in the arm's folder)."""
    from training.recipe import load_recipe
    from training.train import train_coarse

    recipe = load_recipe(path)
    link = recipe.work_dir / "coarse.h5"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(set_dir / "coarse.h5")
    _log(f"training {key} ...")
    t0 = time.perf_counter()
    history = train_coarse(recipe, restart=True)
    out = {
        "seconds": round(time.perf_counter() - t0, 1),
        "recipe": str(path.relative_to(work)),
        "history": history,
    }
    _log(f"  {out['seconds']} s")
    return out


def _mean_row(variant: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One arm over its seeds: the mean of each metric, its sd (``<metric>_sd``, 0 for one
    seed) and the summed fine patches."""
    row: dict[str, Any] = {"loss": variant, "seeds": len(runs)}
    for m in METRICS:
        values = np.array([r[m] for r in runs], dtype=np.float64)
        row[m] = round(float(values.mean()), 5)
        row[f"{m}_sd"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 5)
    row["patches_run"] = int(np.mean([r["patches_run"] for r in runs]))
    return row


def run(suite: Suite) -> dict[str, Any]:
    from cascade.engine import load_cascade_model
    from cascade.models.pretrained import resolve_model
    from training.recipe import load_recipe

    p = suite.profile
    root = suite.work / f"ablation-{p.name}"
    data = root / "data"
    t0 = time.perf_counter()
    infos = training_scenes(suite, data)
    simulate_s = time.perf_counter() - t0
    shipped = load_cascade_model(resolve_model(PAIR))
    recipes = {seed: _recipes(suite, root, data, seed) for seed in range(p.ablation_seeds)}
    set_dir = root / "set"
    t0 = time.perf_counter()
    set_info = _derive(next(iter(recipes[0].values())), set_dir, shipped.coarse_spec.normalization)
    derive_s = time.perf_counter() - t0

    trained: dict[str, dict[str, Any]] = {}
    for seed, paths in recipes.items():
        for variant, path in paths.items():
            key = f"{variant} (seed {seed})"
            trained[key] = _train(path, set_dir, suite.work, key)

    scenes = eval_scenes(suite)
    runs = []
    for seed, paths in recipes.items():
        for variant, path in paths.items():
            if variant == WCE_STAGE:
                continue
            weights = load_recipe(path).work_dir / "coarse.final.weights.h5"
            model = with_coarse(
                shipped, "mobilenetv2", weights, f"ablation-{_slug(variant)}-{seed}"
            )
            warm_up(model, *{sc.paper.shape for sc in scenes})
            runs.append({**_evaluate(variant, model, scenes), "seed": seed})
            _log(f"{variant} seed {seed}: {runs[-1]}")
    rows = [_mean_row(variant, [r for r in runs if r["loss"] == variant]) for variant in VARIANTS]
    rows.append(_evaluate(f"shipped ({PAIR})", shipped, scenes))
    figure = "ablation.png"
    plots.ablation_bars(suite.images / figure, rows, ["coarse_accuracy", "pixel_accuracy", "s_dn"])
    return {
        "profile": p.to_dict(),
        "training_scenes": infos,
        "training_set": set_info,
        "simulate_s": round(simulate_s, 1),
        "derive_s": round(derive_s, 1),
        "trained": trained,
        "eval_scenes": [
            {"seed": ABLATION_EVAL_SEED + i, "size": p.sim_size, "cloud": s.info.get("config")}
            for i, s in enumerate(scenes)
        ],
        "rows": rows,
        "runs": runs,
        "arms": {
            name: {"alpha": a, "beta": b, "gamma": g, "loss_form": f, "from_wce_stage": st}
            for name, (a, b, g, f, st) in VARIANTS.items()
        },
        "seeds": p.ablation_seeds,
        "figures": {"ablation": suite.image_link(figure)},
    }
