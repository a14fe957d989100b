"""``cascade batch``: many scenes on a Dask cluster."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from cascade.cli import options

__all__ = ["batch_command"]


@click.command("batch")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for NAME_mask.tif, NAME_mask.json and batch-report.json (created if missing).",
)
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model pair folder (every worker must be able to read it at this path) or a shipped "
    "model's name. Default: the shipped pair that fits the first scene's bands.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="A running Dask scheduler (tcp://host:8786) to send the scenes to; "
    "default: a local cluster on this machine.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local cluster: worker processes (default: one per core, 3 GB of memory each). "
    "With --scheduler: wait until this many workers have joined.",
)
@click.option(
    "--threads-per-worker",
    type=click.IntRange(min=1),
    default=None,
    help="Local cluster: scenes each worker masks at once (default 1).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="How many more times a scene is submitted after the worker running it died.",
)
@options.ROUTER
@options.CONFIDENCE
@options.THRESHOLD
@options.SHADOW
@options.SHADOW_THRESHOLD
@options.SCALE
@options.BATCH_SIZE
@options.RESAMPLING
@options.COARSE_FROM
@click.option(
    "--valid",
    is_flag=True,
    help="Also write NAME_valid.tif, the usable-ground mask: 1 usable (clear), 0 unusable "
    "(cloud or cloud shadow), 255 no data. A scene whose mask exists gets it from that mask.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Redo scenes whose outputs exist, also those made from other inputs, model or settings.",
)
@click.option("-v", "--verbose", count=True, help="Log every scene and its fine-stage progress.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or table; only errors.")
@click.pass_context
def batch_command(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: str,
    model_dir: str | None,
    scheduler: str | None,
    workers: int | None,
    threads_per_worker: int | None,
    retries: int,
    resampling: str,
    valid: bool,
    overwrite: bool,
    verbose: int,
    quiet: bool,
    **engine: Any,
) -> None:
    """Mask every scene of INPUTS on a Dask cluster, one mask and report each in --out-dir.

    INPUTS are raster files, folders of band files (one scene each), globs ('scenes/*.tif',
    quoted) and text files listing them one per line (@scenes.txt or scenes.txt). Scene NAME
    gets NAME_mask.tif and NAME_mask.json (and NAME_valid.tif with --valid). Masks that exist
    and were made from the same inputs, model and settings are skipped; others are left alone
    unless --overwrite. A table of the scenes goes to stdout and everything to
    OUT_DIR/batch-report.json. Exit code 1 when a scene failed or exists with other settings.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from cascade.batch import BatchReport, SceneResult, plan_scenes, run_batch, set_dask_log_level

    verbose, quiet = options.log_levels(ctx, verbose, quiet)
    # Dask's own INFO lines (every connection, every worker) only with -vv.
    set_dask_log_level(logging.ERROR if quiet else logging.INFO if verbose > 1 else logging.WARNING)
    batch_log = logging.getLogger("cascade.batch")
    config = options.engine_config(**engine)
    # Bad inputs fail here, before any cluster starts.
    n_scenes = len(plan_scenes(inputs, out_dir, valid=valid))

    bar = tqdm(total=n_scenes, unit="scene", desc="batch", file=sys.stderr, disable=quiet)
    failed = 0

    def progress(result: SceneResult, done: int, total: int) -> None:
        nonlocal failed
        failed += result.status in ("failed", "exists-differs")
        bar.update(done - bar.n)
        if failed:
            bar.set_postfix(not_done=failed)

    def fine_progress(scene: str, done: int, total: int) -> None:
        batch_log.info("%s: fine stage %d/%d patches", scene, done, total)

    try:
        with logging_redirect_tqdm():
            report: BatchReport = run_batch(
                inputs,
                out_dir,
                model_dir,
                config=config,
                scheduler=scheduler,
                workers=workers,
                threads_per_worker=threads_per_worker,
                overwrite=overwrite,
                retries=retries,
                resampling=resampling,
                valid=valid,
                progress=progress,
                fine_progress=fine_progress if verbose and not quiet else None,
            )
    finally:
        bar.close()
    _summary(report, quiet)


def _summary(report: Any, quiet: bool) -> None:
    """The table and totals of a batch; exit code 1 when a scene failed or differs."""
    t = report.totals
    if not quiet:
        _batch_table(report)
        rate = t["scenes_per_hour"]
        click.echo(
            f"{t['scenes']} scene{'' if t['scenes'] == 1 else 's'}: {t['ok']} ok, "
            f"{t['skipped']} skipped, {t['failed']} failed, "
            f"{t['exists_differs']} exist and differ; {t['wall_s']:.1f} s"
            + (f", {rate:.1f} scenes/h" if rate else "")
            + f"; report {report.path}"
        )
    if not report.ok:
        problems = []
        if t["failed"]:
            problems.append(f"{t['failed']} scene(s) failed")
        if t["exists_differs"]:
            problems.append(
                f"{t['exists_differs']} scene(s) have outputs made from other inputs, model or "
                "settings (pass --overwrite to redo them)"
            )
        raise click.ClickException(f"{' and '.join(problems)}; see {report.path}")


def _batch_table(report: Any) -> None:
    """Print one line per scene: name, status, time, patches, attempts, worker; then errors."""
    rows = [("scene", "status", "time", "patches", "attempts", "worker")]
    for s in report.scenes:
        rows.append(
            (
                s.name,
                s.status,
                f"{s.seconds:.1f} s",
                "" if s.patches_run is None else str(s.patches_run),
                str(s.attempts),
                s.worker or "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4}
    for r in rows:
        click.echo(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    for s in report.scenes:
        if s.error:
            click.echo(f"{s.name}: {s.error}")
