"""``cascade info``: what a model pair expects, its files checked."""

from __future__ import annotations

import json

import click

__all__ = ["info"]


@click.command()
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the sidecars as JSON.")
def info(model_dir: str, as_json: bool) -> None:
    """Describe the model pair in MODEL_DIR (or a shipped one by name) and check its files."""
    from cascade.models.artifacts import load_pair_specs
    from cascade.models.pretrained import resolve_model

    specs = load_pair_specs(resolve_model(model_dir))
    if as_json:
        click.echo(
            json.dumps({"coarse": specs.coarse.to_dict(), "fine": specs.fine.to_dict()}, indent=2)
        )
        return
    c, f = specs.coarse, specs.fine
    click.echo(f"model pair   {specs.folder}")
    click.echo(f"bands        {', '.join(c.bands)}")
    click.echo(f"coarse       {c.architecture}/{c.backbone}  ({c.weights})")
    click.echo(
        f"fine         {f.architecture}/{f.backbone}  ({f.weights}), threshold {f.threshold}"
    )
    click.echo(f"geometry     patch {f.patch}, margin {f.margin}, stride {f.stride}")
    n = c.normalization
    click.echo(f"normalise    raw * {n.scale:g}" + (" then per-band mean/std" if n.mean else ""))
    prov = c.provenance or {}
    if prov:
        click.echo("provenance   " + ", ".join(f"{k}: {v}" for k, v in prov.items()))
    click.echo("weights      present, SHA-256 verified")
