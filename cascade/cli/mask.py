"""``cascade mask``: the cloud mask of one scene."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cascade.cli import options

__all__ = ["mask"]


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model pair folder (coarse.json, fine.json and their weights) or a shipped model's "
    "name (sentinel2-l1c-7, rgbn). Default: the shipped pair that fits the input's bands.",
)
@options.SCALE
@options.ROUTER
@options.CONFIDENCE
@options.THRESHOLD
@options.SHADOW
@options.SHADOW_THRESHOLD
@click.option(
    "--probabilities",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the probability raster (float32) here: cloud, and cloud shadow as a "
    "second band when the mask marks shadow.",
)
@click.option(
    "--valid",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the usable-ground mask here: 1 usable (clear), 0 unusable (cloud or "
    "cloud shadow), 255 no data.",
)
@click.option(
    "--coarse-grid",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the coarse class grid (one pixel per cell) here.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the JSON run report here (default: OUTPUT with .json).",
)
@click.option(
    "--quicklook",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a PNG: natural colour beside the mask over it (cells the fine model ran "
    "on outlined).",
)
@options.BATCH_SIZE
@options.RESAMPLING
@options.COARSE_FROM
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; only errors.")
@click.pass_context
def mask(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: str,
    model_dir: str | None,
    input_scale: float | None,
    router: str,
    confidence: float | None,
    threshold: float | None,
    shadow: bool | None,
    shadow_threshold: float | None,
    probabilities: str | None,
    valid: str | None,
    coarse_grid: str | None,
    report: str | None,
    quicklook: str | None,
    batch_size: int,
    resampling: str,
    coarse_from: str,
    overwrite: bool,
    verbose: int,
    quiet: bool,
) -> None:
    """Write the cloud mask of INPUTS to OUTPUT (a Cloud-Optimized GeoTIFF).

    INPUTS is a product as downloaded (a Sentinel-2 L1C/L2A .SAFE folder or .zip, a Landsat
    Collection 2 Level-1 folder or .tar: bands, reflectance and No Data from its metadata,
    no --scale), a multi-band raster, a folder of single-band files (B01.tif, ...) or
    several single-band files. The mask has 0 clear, 1 cloud, 2 cloud shadow (models with a
    shadow output), 255 no data (its "classes" tag says which), and the input's CRS and
    transform (a product's finest band grid).
    """
    from cascade.engine import mask_scene
    from cascade.models.pretrained import pick_model

    verbose, quiet = options.log_levels(ctx, verbose, quiet)
    report_path = report or str(Path(output).with_suffix(".json"))
    source: str | list[str] = inputs[0] if len(inputs) == 1 else list(inputs)
    config = options.engine_config(
        router,
        confidence,
        threshold,
        batch_size,
        input_scale,
        coarse_from,
        shadow,
        shadow_threshold,
    )
    choice = pick_model(model_dir, source, resampling=resampling)
    if choice.shipped and not quiet:
        click.echo(f"model: shipped {choice.name} ({choice.reason})", err=True)
    with _ProgressBar(quiet) as bar:
        result = mask_scene(
            source,
            output,
            choice.folder,
            config=config,
            probabilities=probabilities,
            coarse_grid=coarse_grid,
            report=report_path,
            quicklook=quicklook,
            valid=valid,
            overwrite=overwrite,
            resampling=resampling,
            progress=bar.update,
        )
    r = result.report
    speed = r.get("speedup_vs_all_estimate")
    if not quiet:
        click.echo(
            f"{output}: {r['pixels']['cloud']} cloud, "
            + (f"{r['pixels']['shadow']} shadow, " if r.get("shadow") is not None else "")
            + f"{r['pixels']['clear']} clear, "
            f"{r['pixels']['nodata']} no data px; fine model on {r['patches_run']} of "
            f"{r['cells']} cells ({router}); {r['timings_s']['total']:.1f} s"
            + (f", ~{speed:.1f}x faster than routing all (estimate)" if speed else "")
        )


class _ProgressBar:
    """A tqdm bar of fine patches on stderr, opened on the first update (none when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def update(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="patch", desc="fine", file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
