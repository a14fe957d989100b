"""Model artifacts: weights plus a JSON sidecar that says how to rebuild and feed the model.

A model is two files side by side: ``NAME.weights.h5`` (Keras weights) and ``NAME.json`` (the
sidecar, :class:`ModelSpec`). The architecture is rebuilt from the sidecar and the weights are
loaded into it; whole-model files are not used because Keras 3 cannot save some backbones
(seresnext) whole, while weights always round-trip exactly. Architecture options beyond the
backbone (for example a U-Net's ``decoder_filters``) are in ``options``; weights may be stored
as float16 (``weights_dtype``) and are cast back to float32 on loading.

A *model pair*, what the engine runs, is a folder holding ``coarse.json`` + weights and
``fine.json`` + weights (:func:`load_pair_specs`). This module has no TensorFlow in it: reading
and checking sidecars is instant; :mod:`cascade.models` builds and loads the Keras models.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cascade.classes import CELL_CLASS_NAMES
from cascade.errors import ArtifactError, BandMismatchError

__all__ = [
    "FINE_CLASS_NAMES",
    "FINE_CLASS_NAMES_SHADOW",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ArtifactError",
    "BandMismatchError",
    "ModelSpec",
    "Normalization",
    "PairSpecs",
    "check_pair",
    "load_pair_specs",
    "sha256_file",
]

FORMAT_NAME = "cloud-cascade-model"
FORMAT_VERSION = 1
# Storage types of weights files; float16 halves shipped models, loading casts to float32.
WEIGHTS_DTYPES = ("float32", "float16")
FINE_CLASS_NAMES = ("cloud", "clear", "nodata")
# A fine model may add a cloud-shadow channel after these three (channel 0 stays cloud).
FINE_CLASS_NAMES_SHADOW = (*FINE_CLASS_NAMES, "shadow")

Role = Literal["coarse", "fine"]


@dataclass(frozen=True)
class Normalization:
    """How raw scene values become model input: ``(raw * scale - mean[b]) / std[b]``.

    ``scale`` converts the stored values to the physical unit the model was trained on (e.g.
    ``1e-4`` for Sentinel-2 L1C digital numbers to reflectance); ``mean`` and ``std`` are per
    band in that unit. Being affine, it commutes with area pooling, so the coarse input is
    pooled from raw values and normalised afterwards.
    """

    scale: float = 1.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ArtifactError(
                f"normalization.scale must be finite and non-zero, got {self.scale}"
            )
        if self.std and min(self.std) <= 0:
            raise ArtifactError(f"normalization.std must be positive, got {list(self.std)}")
        if len(self.mean) != len(self.std):
            raise ArtifactError(
                f"normalization.mean and .std must have one value per band, got "
                f"{len(self.mean)} and {len(self.std)}"
            )

    def coefficients(self, bands: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Per-band ``(gain, offset)`` so that ``input = raw * gain + offset``."""
        if self.mean and len(self.mean) != bands:
            raise ArtifactError(
                f"normalization has {len(self.mean)} band statistics but the model has {bands} "
                "bands"
            )
        mean = np.asarray(self.mean or (0.0,) * bands, dtype=np.float64)
        std = np.asarray(self.std or (1.0,) * bands, dtype=np.float64)
        return (self.scale / std).astype(np.float32), (-mean / std).astype(np.float32)


@dataclass(frozen=True)
class ModelSpec:
    """The sidecar of one model (see the module docstring)."""

    role: Role
    architecture: str
    backbone: str
    bands: tuple[str, ...]
    normalization: Normalization = field(default_factory=Normalization)
    patch: int = 256
    margin: int = 4
    stride: int = 32
    classes: tuple[str, ...] = ()
    threshold: float = 0.5
    options: dict[str, Any] = field(default_factory=dict)
    weights: str = ""
    weights_sha256: str = ""
    weights_dtype: str = "float32"
    provenance: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(str(b) for b in self.bands))
        if not self.classes:
            names = CELL_CLASS_NAMES if self.role == "coarse" else FINE_CLASS_NAMES
            object.__setattr__(self, "classes", tuple(names))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if isinstance(self.normalization, dict):
            object.__setattr__(self, "normalization", Normalization(**self.normalization))
        problems = []
        if self.format != FORMAT_NAME:
            problems.append(f"format is {self.format!r}, expected {FORMAT_NAME!r}")
        if self.format_version != FORMAT_VERSION:
            problems.append(
                f"format_version is {self.format_version}, this cloud-cascade reads "
                f"{FORMAT_VERSION}; upgrade cloud-cascade or re-export the model"
            )
        if self.role not in ("coarse", "fine"):
            problems.append(f"role is {self.role!r}, expected 'coarse' or 'fine'")
        if not self.bands:
            problems.append("bands is empty")
        if len(set(self.bands)) != len(self.bands):
            problems.append(f"bands repeat: {list(self.bands)}")
        allowed = (
            (CELL_CLASS_NAMES,)
            if self.role == "coarse"
            else (FINE_CLASS_NAMES, FINE_CLASS_NAMES_SHADOW)
        )
        if self.role in ("coarse", "fine") and tuple(self.classes) not in allowed:
            expected = " or ".join(str(list(a)) for a in allowed)
            problems.append(f"classes are {list(self.classes)}, expected {expected}")
        if self.weights_dtype not in WEIGHTS_DTYPES:
            problems.append(
                f"weights_dtype is {self.weights_dtype!r}, expected one of {list(WEIGHTS_DTYPES)}"
            )
        if not isinstance(self.options, dict):
            problems.append(f"options must be a JSON object, got {type(self.options).__name__}")
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold must be in (0, 1), got {self.threshold}")
        shadow_t = self.options.get("shadow_threshold") if isinstance(self.options, dict) else None
        if shadow_t is not None and not (
            isinstance(shadow_t, (int, float)) and 0.0 < shadow_t < 1.0
        ):
            problems.append(f"options.shadow_threshold must be in (0, 1), got {shadow_t!r}")
        if self.normalization.mean and len(self.normalization.mean) != len(self.bands):
            problems.append(
                f"normalization has {len(self.normalization.mean)} band statistics for "
                f"{len(self.bands)} bands"
            )
        if problems:
            raise ArtifactError("invalid model sidecar: " + "; ".join(problems))

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bands"] = list(self.bands)
        d["classes"] = list(self.classes)
        d["normalization"] = {
            "scale": self.normalization.scale,
            "mean": list(self.normalization.mean),
            "std": list(self.normalization.std),
        }
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "sidecar") -> ModelSpec:
        if not isinstance(data, dict):
            raise ArtifactError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArtifactError(f"{source}: unknown field(s) {unknown}; known: {sorted(known)}")
        missing = sorted({"role", "architecture", "backbone", "bands"} - set(data))
        if missing:
            raise ArtifactError(f"{source}: missing field(s) {missing}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ArtifactError(f"{source}: {exc}") from exc

    def write(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the sidecar JSON atomically."""
        from cascade.io.files import atomic_output

        path = Path(path)
        with atomic_output(path, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> ModelSpec:
        """Read and validate a sidecar; errors name the file and the field."""
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"model sidecar {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"model sidecar {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    def with_updates(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed (the spec is immutable)."""
        return replace(self, **changes)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class PairSpecs:
    """The sidecars of a model pair and where their weights are."""

    folder: Path
    coarse: ModelSpec
    fine: ModelSpec

    @property
    def bands(self) -> tuple[str, ...]:
        return self.coarse.bands

    def weights_path(self, role: Role) -> Path:
        spec = self.coarse if role == "coarse" else self.fine
        return self.folder / spec.weights


def check_pair(coarse: ModelSpec, fine: ModelSpec) -> list[str]:
    """What does not match between a coarse and a fine sidecar (empty when they fit)."""
    problems = []
    if coarse.role != "coarse":
        problems.append(f"the coarse model's sidecar has role {coarse.role!r}")
    if fine.role != "fine":
        problems.append(f"the fine model's sidecar has role {fine.role!r}")
    if coarse.bands != fine.bands:
        problems.append(f"bands differ: coarse {list(coarse.bands)}, fine {list(fine.bands)}")
    for name in ("patch", "margin", "stride"):
        if getattr(coarse, name) != getattr(fine, name):
            problems.append(
                f"{name} differs: coarse {getattr(coarse, name)}, fine {getattr(fine, name)}"
            )
    if coarse.normalization != fine.normalization:
        problems.append("normalization differs between coarse and fine")
    return problems


def load_pair_specs(folder: str | Path, *, verify_weights: bool = True) -> PairSpecs:
    """Read ``coarse.json`` and ``fine.json`` of a model folder and check them together.

    Checks: both sidecars valid, roles right, the same bands in the same order, the same
    patch/margin/stride and normalisation, weights files present and (``verify_weights``)
    matching their recorded SHA-256.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(
            f"model {folder} is not a folder; a model pair is a folder with coarse.json, "
            "fine.json and their .weights.h5 files"
        )
    coarse = ModelSpec.read(folder / "coarse.json")
    fine = ModelSpec.read(folder / "fine.json")
    problems = check_pair(coarse, fine)
    for spec in (coarse, fine):
        weights = folder / spec.weights
        if not spec.weights:
            problems.append(f"{spec.role}.json names no weights file")
        elif not weights.is_file():
            problems.append(f"{spec.role} weights {weights} are missing")
        elif verify_weights and spec.weights_sha256 and sha256_file(weights) != spec.weights_sha256:
            problems.append(
                f"{spec.role} weights {weights} do not match the SHA-256 in {spec.role}.json "
                "(corrupt or replaced file)"
            )
    if problems:
        raise ArtifactError(f"model pair {folder}: " + "; ".join(problems))
    return PairSpecs(folder=folder, coarse=coarse, fine=fine)
