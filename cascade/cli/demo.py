"""``cascade demo``: the engine end to end on a generated scene with oracle models."""

from __future__ import annotations

import click

__all__ = ["demo"]


@click.command()
@click.option("--size", default=2600, show_default=True, help="Scene side in pixels.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the scene.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the quicklook PNG and the JSON summary.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def demo(size: int, seed: int, out_dir: str | None, overwrite: bool) -> None:
    """Run the engine on a generated scene, models replaced by oracles of its known mask."""
    from cascade.demo import run_demo

    result = run_demo(size, size, seed=seed, out_dir=out_dir, overwrite=overwrite)
    g = result.geometry
    click.echo(f"scene {g.height} x {g.width}, grid {g.rows} x {g.cols} = {g.n_cells} cells")
    click.echo("cells: " + ", ".join(f"{k} {v}" for k, v in result.cells_per_class.items()))
    click.echo(
        f"routed to the fine stage: {result.routed} of {g.n_cells} cells "
        f"({result.routed / g.n_cells:.0%}), ideal speed-up {result.ideal_speedup:.1f}x"
    )
    click.echo(
        "stage times: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in result.timings_s.items())
        + " (a first run includes compiling the kernels)"
    )
    click.echo(f"assembled mask equals the known mask: {'yes' if result.exact else 'NO'}")
    for path in result.outputs:
        click.echo(f"wrote {path}")
    if not result.exact:
        raise click.ClickException("the assembled mask differs from the known mask")
