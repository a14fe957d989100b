"""The fine model's training windows, mixed from real labelled patches and clear backgrounds.

A recipe's ``[mix]`` table lists sources with weights; every training window is drawn from one
source (by weight), cut and varied by :mod:`training.augment` (zoom, flips, a cloud layer with
probability ``clouds``, a randomised sensor) and normalised as the engine normalises::

    [mix]
    window = 128                    # training windows (px); the model runs on `patch` windows
    validation = { kind = "biome", path = "data:l8biome_patches/val" }
    sources = [
      { kind = "biome", path = "data:l8biome_patches/train", weight = 0.6, clouds = 0.35 },
      { kind = "backgrounds", weight = 0.4, clouds = 0.9 },
    ]

Source kinds: ``biome`` (:func:`training.datasets.read_biome_patches`, shadows kept),
``backgrounds`` (the profile's clear backgrounds, :func:`training.backgrounds.default_backgrounds`),
or any :data:`training.datasets.READERS` kind with its options. Images are brought to the
recipe's band profile by :func:`to_profile`, which can also synthesise the two Sentinel-2 bands
Landsat lacks (see there).

Targets have four channels, the fine model's classes: cloud, clear, No Data, cloud shadow.

A labelled source whose labels mark shadow only in some images (the L8 Biome set: many scenes
were labelled for cloud alone, so real shadows there carry the clear label) takes
``shadow_labels = "where-annotated"``: an image whose labels hold cloud but no shadow is taken
as not annotated for shadow, and its clear pixels become :data:`UNANNOTATED` (clear or shadow,
unknown), which the loss leaves out of the clear and shadow outputs (targets -1) and the
shadow threshold sweep leaves out of its pixels. The default, ``"complete"``, takes every
label as it is. Rendered cloud shadows drawn over such pixels are labelled shadow as anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.bands import BandProfile, match_bands
from cascade.classes import CLEAR, CLOUD, NODATA, SHADOW
from cascade.errors import BandMismatchError, RecipeError
from training.augment import (
    UNANNOTATED,
    AugmentConfig,
    add_clouds,
    randomise_sensor,
    sample_window,
)

__all__ = [
    "FINE_CLASSES",
    "IGNORE",
    "SHADOW_LABELS",
    "UNANNOTATED",
    "Image",
    "MixConfig",
    "MixSource",
    "WindowPool",
    "annotated_for_shadow",
    "fine_targets",
    "load_images",
    "normalise",
    "resolve_path",
    "shadow_unannotated",
    "to_profile",
]

log = logging.getLogger(__name__)

FINE_CLASSES = ("cloud", "clear", "nodata", "shadow")
SOURCE_KINDS_OWN = ("biome", "backgrounds")
# Target value of an output a pixel does not train (the loss leaves it out).
IGNORE = -1.0
SHADOW_LABELS = ("complete", "where-annotated")


@dataclass(frozen=True)
class MixSource:
    """One source of windows: ``kind``, ``path`` (where the kind needs one), ``weight`` (share
    of windows), ``clouds`` (probability of a cloud layer added), reader ``options``,
    ``shadow_labels`` (``"complete"`` or ``"where-annotated"``: see the module docstring)."""

    kind: str
    path: Path | None = None
    weight: float = 1.0
    clouds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    shadow_labels: str = "complete"

    def __post_init__(self) -> None:
        if self.weight <= 0 or not 0 <= self.clouds <= 1:
            raise RecipeError(
                f"[mix] source {self.kind!r}: weight must be > 0 and clouds in [0, 1], got "
                f"weight={self.weight}, clouds={self.clouds}"
            )
        if self.kind != "backgrounds" and self.path is None:
            raise RecipeError(f"[mix] source {self.kind!r} needs a path")
        if self.shadow_labels not in SHADOW_LABELS:
            raise RecipeError(
                f"[mix] source {self.kind!r}: shadow_labels must be one of "
                f"{', '.join(repr(v) for v in SHADOW_LABELS)}; got {self.shadow_labels!r}"
            )

    def describe(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "path": None if self.path is None else str(self.path),
            "weight": self.weight,
            "clouds": self.clouds,
            **self.options,
        }
        if self.shadow_labels != "complete":
            out["shadow_labels"] = self.shadow_labels
        return out


@dataclass(frozen=True)
class MixConfig:
    """The recipe's ``[mix]`` table (see the module docstring)."""

    sources: tuple[MixSource, ...]
    validation: MixSource
    window: int = 128
    # A work folder whose normalization.json to use instead of the sources' statistics (a
    # recipe that fine-tunes another's models keeps their input normalisation).
    normalization_from: Path | None = None

    def __post_init__(self) -> None:
        if not self.sources:
            raise RecipeError("[mix] needs at least one source")
        if self.window < 32 or self.window % 32:
            raise RecipeError(f"[mix] window must be a multiple of 32, >= 32; got {self.window}")

    @classmethod
    def from_table(cls, table: dict[str, Any], base: Path) -> MixConfig:
        """Parse ``[mix]``; relative paths are relative to ``base`` (the recipe's folder)."""
        known = ("sources", "validation", "window", "normalization_from")
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise RecipeError(f"[mix] has unknown key(s) {unknown}; known: {', '.join(known)}")
        if "validation" not in table:
            raise RecipeError(
                "[mix] needs validation = { kind = ..., path = ... } (model selection)"
            )
        return cls(
            sources=tuple(_source(s, base) for s in table.get("sources", [])),
            validation=_source(table["validation"], base),
            window=int(table.get("window", 128)),
            normalization_from=(
                (base / str(table["normalization_from"])).resolve()
                if "normalization_from" in table
                else None
            ),
        )

    def describe(self) -> dict[str, Any]:
        out = {
            "window": self.window,
            "sources": [s.describe() for s in self.sources],
            "validation": self.validation.describe(),
        }
        if self.normalization_from is not None:
            out["normalization_from"] = str(self.normalization_from)
        return out


def resolve_path(path: str, base: Path) -> Path:
    """A recipe path: ``data:REST`` is REST under the shared data folder
    (:func:`training.backgrounds.data_root`: ``$CASCADE_DATA`` or ``../shared/data``), any
    other relative path is relative to ``base`` (the recipe's folder)."""
    from training.backgrounds import data_root

    if path.startswith("data:"):
        return (data_root() / path[len("data:") :]).resolve()
    return (base / path).resolve()


def _source(entry: Any, base: Path) -> MixSource:
    if not isinstance(entry, dict) or "kind" not in entry:
        raise RecipeError(
            f'[mix] sources need a kind, e.g. {{kind = "biome", path = ...}}; got {entry!r}'
        )
    e = dict(entry)
    kind = str(e.pop("kind"))
    path = e.pop("path", None)
    return MixSource(
        kind=kind,
        path=None if path is None else resolve_path(str(path), base),
        weight=float(e.pop("weight", 1.0)),
        clouds=float(e.pop("clouds", 0.0)),
        shadow_labels=str(e.pop("shadow_labels", "complete")),
        options=e,
    )


@dataclass(frozen=True)
class Image:
    """A training image in the recipe's bands: ``bands`` ``(n, h, w)`` reflectance, ``labels``
    ``(h, w)`` uint8 (0 clear, 1 cloud, 2 shadow, 3 :data:`UNANNOTATED`, 255 No Data)."""

    name: str
    bands: npt.NDArray[np.float32]
    labels: npt.NDArray[np.uint8]


# Bands a Landsat-like image lacks for the Sentinel-2 profiles, made from a neighbour with the
# ranges of real Sentinel-2 L1C TOA reflectance (fitted on the clear Virginia subset and the
# eo-learn frames): B01 (443 nm) ~ a B02 + b with a 0.6-0.75, b 0.05-0.10 (Rayleigh scattering
# lifts the coastal band); B09 (945 nm, water vapour) ~ 0.25-0.45 B08. The draw is per image.
_SYNTHESISED = {
    "B01": ("Blue", (0.6, 0.75), (0.05, 0.10)),
    "B09": ("NIR", (0.25, 0.45), (0.0, 0.0)),
}


def to_profile(
    bands: np.ndarray, names: Sequence[str], profile: BandProfile, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """``bands`` in ``profile``'s order; B01 and B09 synthesised when missing (see above)."""
    out = []
    for band in profile.bands:
        try:
            (i,) = match_bands(list(names), [band], what=f"profile {profile.name!r}")
            out.append(bands[i])
            continue
        except BandMismatchError:
            if band.name not in _SYNTHESISED:
                raise
        src, (a0, a1), (b0, b1) = _SYNTHESISED[band.name]
        (i,) = match_bands(list(names), [src], what=f"synthesising {band.name}")
        out.append(bands[i] * rng.uniform(a0, a1) + rng.uniform(b0, b1))
    x = np.stack(out).astype(np.float32)
    x[:, ~bands.any(axis=0)] = 0.0
    return np.maximum(x, 0.0, out=x)


def load_images(source: MixSource, profile: BandProfile, rng: np.random.Generator) -> list[Image]:
    """The images of one source, in the profile's bands."""
    from training.backgrounds import default_backgrounds
    from training.datasets import read_dataset

    if source.kind == "backgrounds":
        return [
            Image(bg.source, bg.reflectance, np.zeros(bg.reflectance.shape[1:], np.uint8))
            for bg in default_backgrounds(profile, **source.options)
        ]
    options = dict(source.options)
    if source.kind in ("biome", "ukis"):
        options.setdefault("shadow", True)
    got = read_dataset(source.kind, source.path, **options)  # type: ignore[arg-type]
    scenes = got if isinstance(got, list) else [got]
    out = []
    for s in scenes:
        if s.mask is None:
            raise RecipeError(f"[mix] source {source.kind!r} image {s.name} has no labels")
        labels = s.mask
        if source.shadow_labels == "where-annotated":
            labels = shadow_unannotated(labels)
        out.append(Image(s.name, to_profile(s.bands, s.band_names, profile, rng), labels))
    return out


def annotated_for_shadow(labels: np.ndarray) -> bool:
    """Whether an image's labels can be taken as annotated for shadow: they hold shadow, or no
    cloud to cast one."""
    return bool(np.any(labels == SHADOW) or not np.any(labels == CLOUD))


def shadow_unannotated(labels: np.ndarray) -> npt.NDArray[np.uint8]:
    """``labels`` of an image that may not be annotated for shadow: where they hold cloud and
    no shadow, clear becomes :data:`UNANNOTATED`; other labels are returned unchanged."""
    if annotated_for_shadow(labels):
        return labels
    return np.where(labels == CLEAR, UNANNOTATED, labels).astype(np.uint8)


def fine_targets(labels: np.ndarray) -> npt.NDArray[np.float32]:
    """``(h, w, 4)`` one-hot targets: cloud, clear, No Data, shadow; an :data:`UNANNOTATED`
    pixel has :data:`IGNORE` as its clear and shadow targets."""
    out = np.stack(
        [labels == CLOUD, labels == CLEAR, labels == NODATA, labels == SHADOW], axis=-1
    ).astype(np.float32)
    unknown = labels == UNANNOTATED
    out[unknown, 1] = IGNORE
    out[unknown, 3] = IGNORE
    return out


class WindowPool:
    """Every source's images in memory, and the draw of augmented training windows."""

    def __init__(
        self,
        cfg: MixConfig,
        profile: BandProfile,
        augment: AugmentConfig,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.cfg, self.profile, self.augment = cfg, profile, augment
        self.images = [load_images(s, profile, rng) for s in cfg.sources]
        for s, imgs in zip(cfg.sources, self.images, strict=True):
            if not imgs:
                raise RecipeError(f"[mix] source {s.kind!r} ({s.path}) holds no images")
            log.info("mix source %s: %d images, weight %s", s.kind, len(imgs), s.weight)
        w = np.array([s.weight for s in cfg.sources], dtype=np.float64)
        self.weights = w / w.sum()
        self.wavelengths = np.array([b.wavelength_nm for b in profile.bands], np.float32)

    def statistics(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per-band mean and standard deviation of the data pixels, each source weighted by
        its share of windows (the normalisation of both models)."""
        means, sqs = [], []
        for imgs in self.images:
            px = np.concatenate([im.bands[:, im.bands.any(axis=0)] for im in imgs], axis=1)
            means.append(px.mean(axis=1, dtype=np.float64))
            sqs.append((px.astype(np.float64) ** 2).mean(axis=1))
        mean = np.average(np.stack(means), axis=0, weights=self.weights)
        sq = np.average(np.stack(sqs), axis=0, weights=self.weights)
        return mean, np.sqrt(np.maximum(sq - mean**2, 1e-12))

    def window(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One augmented window: ``(bands, w, w)`` reflectance and ``(w, w)`` labels."""
        k = int(rng.choice(len(self.images), p=self.weights))
        imgs = self.images[k]
        img = imgs[int(rng.integers(len(imgs)))]
        x, y = sample_window(img.bands, img.labels, self.cfg.window, rng, self.augment)
        if rng.random() < self.cfg.sources[k].clouds:
            x, y = add_clouds(x, y, self.wavelengths, rng, self.augment)
        return randomise_sensor(x, rng, self.augment), y

    def batches(
        self, batch: int, gain: np.ndarray, offset: np.ndarray, seed: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless normalised batches ``(n, w, w, bands)`` and targets ``(n, w, w, 4)``."""
        rng = np.random.default_rng(seed)
        while True:
            xs, ys = [], []
            for _ in range(batch):
                x, y = self.window(rng)
                xs.append(normalise(x, gain, offset))
                ys.append(fine_targets(y))
            yield np.stack(xs), np.stack(ys)


def normalise(x: np.ndarray, gain: np.ndarray, offset: np.ndarray) -> npt.NDArray[np.float32]:
    """``(bands, h, w)`` reflectance -> ``(h, w, bands)`` model input; No Data pixels (every
    band 0) become 0, the normalised mean, as the engine fills them."""
    z = np.moveaxis(x, 0, -1) * gain + offset
    z[~x.any(axis=0)] = 0.0
    return z.astype(np.float32)
