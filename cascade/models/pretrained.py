"""The model pairs shipped with cloud-cascade, and picking one for a scene's bands.

Each pair is a folder in ``cascade/pretrained/`` (``sentinel2-l1c-7/``, ``rgbn/``) holding
``coarse.json``, ``fine.json`` and their float16 weights, trained by the recipes in
``training/recipes/`` (their sidecars' ``provenance`` says how). No TensorFlow here: choosing
reads sidecars only. :func:`pick_model` is how every command finds the pair it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cascade.bands import match_bands
from cascade.errors import ArtifactError, BandMismatchError
from cascade.models.artifacts import ModelSpec

__all__ = [
    "PRETRAINED_DIR",
    "SHIPPED_ORDER",
    "Choice",
    "choose_model",
    "pick_model",
    "resolve_model",
    "shipped",
]

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
# Tried in this order: the richer band set first.
SHIPPED_ORDER = ("sentinel2-l1c-7", "rgbn")


def shipped() -> dict[str, Path]:
    """Name -> folder of every shipped pair present in this installation."""
    return {
        name: PRETRAINED_DIR / name
        for name in SHIPPED_ORDER
        if (PRETRAINED_DIR / name / "coarse.json").is_file()
        and (PRETRAINED_DIR / name / "fine.json").is_file()
    }


@dataclass(frozen=True)
class Choice:
    """The pair picked for a scene and why."""

    name: str
    folder: Path
    reason: str
    shipped: bool = True


def choose_model(band_names: Sequence[str | None], *, source: str = "the scene") -> Choice:
    """The first shipped pair whose bands the scene has (by name), else by band count.

    Named bands are matched case-insensitively, with sensor aliases (``B02`` is ``Blue``).
    A scene without band names gets the pair with exactly as many bands, taken in order.
    """
    pairs = shipped()
    if not pairs:
        raise ArtifactError(
            f"no shipped model pairs are installed in {PRETRAINED_DIR}; pass --model MODEL_DIR"
        )
    specs = {n: ModelSpec.read(p / "fine.json") for n, p in pairs.items()}
    named = [n for n in band_names if n]
    if named:
        for name, spec in specs.items():
            try:
                match_bands(band_names, spec.bands, source=source)
            except BandMismatchError:
                continue
            return Choice(name, pairs[name], f"bands {', '.join(spec.bands)} matched by name")
        wants = "; ".join(f"{n}: {', '.join(s.bands)}" for n, s in specs.items())
        raise BandMismatchError(
            f"{source} has bands {named}, which fit none of the shipped models ({wants}); "
            "rename the bands (band descriptions) or pass --model MODEL_DIR"
        )
    for name, spec in specs.items():
        if len(spec.bands) == len(band_names):
            return Choice(
                name,
                pairs[name],
                f"{len(band_names)} unnamed bands taken by position as {', '.join(spec.bands)}",
            )
    counts = ", ".join(f"{n}: {len(s.bands)}" for n, s in specs.items())
    raise BandMismatchError(
        f"{source} has {len(band_names)} unnamed bands; the shipped models take {counts} "
        "bands; name the bands (band descriptions such as B02 or Blue), pass exactly that many "
        "bands, or pass --model MODEL_DIR"
    )


def resolve_model(model: str | Path) -> Path:
    """A model argument as a folder: an existing folder, else the name of a shipped pair."""
    path = Path(model)
    if path.is_dir():
        return path
    pairs = shipped()
    if str(model) in pairs:
        return pairs[str(model)]
    raise ArtifactError(
        f"model {str(model)!r} is neither a folder nor a shipped model "
        f"({', '.join(pairs) or 'none installed'}); pass a model pair folder (coarse.json, "
        "fine.json and their weights) or one of those names"
    )


def pick_model(
    model: str | Path | None,
    inputs: str | Path | Sequence[str | Path],
    *,
    resampling: str = "bilinear",
) -> Choice:
    """The model pair for a run: ``model`` (a folder or a shipped pair's name) when given,
    else the shipped pair that fits the bands of ``inputs`` (a product, or a scene as
    :func:`cascade.io.raster.open_source` reads it: see :func:`cascade.io.scene.open_scene`).
    ``Choice.shipped`` says whether it was picked (and ``reason`` why)."""
    if model is not None and str(model):
        folder = resolve_model(model)
        return Choice(folder.name, folder, "given", shipped=False)
    from cascade.io.scene import scene_band_names

    names = scene_band_names(inputs, resampling=resampling)
    if isinstance(inputs, (str, Path)):
        where = str(inputs)
    else:
        items = list(inputs)
        where = str(items[0]) if len(items) == 1 else f"{items[0]} (+{len(items) - 1} files)"
    return choose_model(names, source=where)
