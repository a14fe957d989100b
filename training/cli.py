"""The ``cascade`` commands the training tools add: ``cascade train ...`` and ``cascade simulate``.

They reach the ``cascade`` command through the ``cascade.commands`` entry-point group
(``pyproject.toml``), so the engine's command line names no training code and ``cascade mask``
never imports it. Library errors are turned into messages by the ``cascade`` group.
"""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["simulate", "train"]


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--count", default=1, show_default=True, help="Number of scenes.")
@click.option("--height", default=2000, show_default=True, help="Scene height (px).")
@click.option("--width", default=None, type=int, help="Scene width (px; default: height).")
@click.option(
    "--profile",
    default="sentinel2-l1c-7",
    show_default=True,
    help="Band profile: sentinel2-l1c-7, sentinel2-l1c-13 or rgbn.",
)
@click.option(
    "--cover",
    default=None,
    type=float,
    help="Cloud cover 0..1 (default: drawn per scene from 0..0.9).",
)
@click.option(
    "--scale",
    "scale_px",
    default=None,
    type=float,
    help="Largest cloud structure in px (default: drawn per scene, 100..4000).",
)
@click.option(
    "--brightness",
    default=None,
    type=float,
    help="Visible reflectance of thick cloud (default: drawn per scene, 0.35..0.85).",
)
@click.option(
    "--cloud-top",
    type=click.Choice(["low", "mid", "high"]),
    default=None,
    help="Cloud-top height, which sets B09/B10 over cloud (default: drawn per scene: low "
    "45 %, mid 35 %, high 20 %).",
)
@click.option("--cirrus", default=0.0, show_default=True, help="Cirrus cover 0..1.")
@click.option("--haze", default=0.3, show_default=True, help="Haze amount 0..1.")
@click.option("--no-shadows", is_flag=True, help="Do not cast cloud shadows.")
@click.option(
    "--shadow-labels",
    is_flag=True,
    help="Mark the cast shadows in the exact masks (2, cloud shadow).",
)
@click.option(
    "--nodata-wedge",
    default=0.0,
    show_default=True,
    help="Share of the scene cut off as a No Data corner.",
)
@click.option(
    "--seed",
    default=100_000,
    show_default=True,
    help="Seed of the first scene (scene i gets seed + i). Seeds the shipped models were "
    "trained on (0-39, sentinel2-l1c-7) get a warning.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder holding s2_l1c_clear_virginia/ etc. (default: $CASCADE_DATA or ../shared/data).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
def simulate(
    out_dir: str,
    count: int,
    height: int,
    width: int | None,
    profile: str,
    cover: float | None,
    scale_px: float | None,
    brightness: float | None,
    cloud_top: str | None,
    cirrus: float,
    haze: float,
    no_shadows: bool,
    shadow_labels: bool,
    nodata_wedge: float,
    seed: int,
    data_dir: str | None,
    overwrite: bool,
) -> None:
    """Write simulated cloudy scenes with exact and paper-style masks to OUT_DIR.

    Each scene is NAME.tif (uint16, reflectance x 10000, 0 = no data), NAME_mask.tif (paper
    annotation style) and NAME_mask_exact.tif, where NAME is sim-PROFILE-seedSEED-III for
    scene III of the run; OUT_DIR/index.json lists them with their settings.
    """
    import numpy as np

    from cascade.errors import SimulationError
    from cascade.io.files import atomic_output
    from training.heldout import check_held_out, scene_name
    from training.simulator import random_cloud_config, write_scene

    try:
        check_held_out(range(seed, seed + count), "these scenes")
    except SimulationError as exc:
        click.echo(f"warning: {exc}; do not evaluate the shipped models on them", err=True)

    records = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        config = random_cloud_config(
            rng,
            cover=cover,
            scale_px=scale_px,
            brightness=brightness,
            cloud_top=cloud_top,
            cirrus=cirrus,
            haze=haze,
            shadows=not no_shadows,
            shadow_labels=shadow_labels,
            nodata_wedge=nodata_wedge,
        )
        name = scene_name(profile, seed, i)
        info = write_scene(
            out_dir,
            name,
            height,
            width or height,
            profile=profile,
            config=config,
            seed=seed + i,
            overwrite=overwrite,
            data_dir=data_dir,
        )
        records.append(info)
        click.echo(
            f"{name}: cloud {info['exact_cloud_fraction']:.1%} (exact labels), "
            f"scale {config.scale_px:.0f} px, {config.cloud_top} top, brightness "
            f"{config.brightness:.2f}",
            err=True,
        )
    with atomic_output(f"{out_dir}/index.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(records, indent=2) + "\n")
    click.echo(f"wrote {count} scene(s) to {out_dir}")


@click.group()
def train() -> None:
    """Train the coarse and fine models from a TOML recipe (training/recipes/)."""


def _recipe(path: str) -> Any:
    from training.recipe import load_recipe

    return load_recipe(path)


def _stage(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


@train.command("derive")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace existing training sets.")
def train_derive(recipe: str, overwrite: bool) -> None:
    """Cut the recipe's scenes into coarse.h5 and fine.h5 in its work folder."""
    from training.derive import derive

    r = _recipe(recipe)
    names, scenes = _stage(r.scenes)
    summary = _stage(
        derive,
        scenes,
        r.work_dir,
        r.derive,
        scene_names=names,
        overwrite=overwrite,
        provenance={"recipe": r.name, "sha256": r.sha256},
    )
    click.echo(json.dumps(summary, indent=2))


_RESTART = click.option(
    "--restart",
    is_flag=True,
    help="Train from scratch even where an earlier run of this recipe finished or was "
    "interrupted (by default finished stages are kept and interrupted ones resume).",
)


@train.command("coarse")
@click.argument("recipe", type=click.Path(dir_okay=False))
@_RESTART
def train_coarse_cmd(recipe: str, restart: bool) -> None:
    """Train the coarse model (WCE, then the adjacency loss)."""
    from training.train import train_coarse

    hist = _stage(train_coarse, _recipe(recipe), restart=restart)
    if "init_weights" in hist:
        click.echo(f"coarse: started from {hist['init_weights']}")
    for stage, h in hist.items():
        if not isinstance(h, dict):
            continue
        click.echo(
            f"coarse {stage}: loss {h['initial']['loss']:.4f} -> "
            f"{min(h['epochs']['loss']):.4f} (best train), val "
            f"{min(h['epochs'].get('val_loss', [float('nan')])):.4f}"
        )


@train.command("fine")
@click.argument("recipe", type=click.Path(dir_okay=False))
@_RESTART
def train_fine_cmd(recipe: str, restart: bool) -> None:
    """Train the fine model."""
    from training.train import train_fine

    h = _stage(train_fine, _recipe(recipe), restart=restart)
    click.echo(
        f"fine: loss {h['initial']['loss']:.4f} -> {min(h['epochs']['loss']):.4f} "
        f"(best train), val {min(h['epochs'].get('val_loss', [float('nan')])):.4f}"
    )


@train.command("tune-threshold")
@click.argument("recipe", type=click.Path(dir_okay=False))
def train_tune(recipe: str) -> None:
    """Sweep the fine model's cloud threshold on the validation split."""
    from training.train import tune_threshold

    res = _stage(tune_threshold, _recipe(recipe))
    click.echo(f"threshold {res['threshold']} ({res['metric']} {res['best'][res['metric']]:.4f})")


@train.command("export")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing model pair.")
def train_export(recipe: str, out_dir: str, overwrite: bool) -> None:
    """Write the trained pair as a model folder for `cascade mask --model`."""
    from training.export import export

    click.echo(f"wrote {_stage(export, _recipe(recipe), out_dir, overwrite=overwrite)}")


@train.command("all")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace existing sets and models.")
@_RESTART
@click.pass_context
def train_all(
    ctx: click.Context, recipe: str, out_dir: str, overwrite: bool, restart: bool
) -> None:
    """derive, coarse, fine, tune-threshold and export in one go.

    Run again after an interruption, it keeps the derived sets and the finished stages and
    resumes the interrupted one; --overwrite derives the sets anew (and so retrains).
    """
    work = _recipe(recipe).work_dir
    if overwrite or not all((work / f).exists() for f in ("coarse.h5", "fine.h5")):
        ctx.invoke(train_derive, recipe=recipe, overwrite=overwrite)
    else:
        click.echo(f"using the training sets in {work} (--overwrite derives them anew)")
    ctx.invoke(train_coarse_cmd, recipe=recipe, restart=restart)
    ctx.invoke(train_fine_cmd, recipe=recipe, restart=restart)
    ctx.invoke(train_tune, recipe=recipe)
    ctx.invoke(train_export, recipe=recipe, out_dir=out_dir, overwrite=overwrite)
