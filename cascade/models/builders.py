"""Keras builders of the coarse and fine models, and saving/loading them as artifacts."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# isort: off
from cascade.models import _tf  # noqa: F401  (first: TensorFlow's start-up, quietly)
import keras

# isort: on
import numpy as np

from cascade.classes import CELL_CLASS_NAMES
from cascade.errors import ArtifactError
from cascade.io.files import _umask
from cascade.models._sm import backbone_names, sm, submodules
from cascade.models.artifacts import ModelSpec, sha256_file

__all__ = [
    "FINE_ARCHITECTURES",
    "build_coarse_model",
    "build_fine_model",
    "build_model",
    "load_model",
    "save_model",
]

COARSE_ARCHITECTURE = "coarse-encoder"
FINE_ARCHITECTURES = ("Unet", "FPN", "Linknet", "PSPNet")
PSPNET_MULTIPLE = 48  # 6 x PSPNet's default downsample factor 8
# Decoder size options each architecture takes (segmentation-models' keyword names).
FINE_OPTIONS: dict[str, tuple[str, ...]] = {
    "Unet": ("decoder_filters",),
    "Linknet": ("decoder_filters",),
    "FPN": ("pyramid_block_filters",),
    "PSPNet": ("psp_conv_filters",),
}


def _check_backbone(backbone: str) -> None:
    names = backbone_names()
    if backbone not in names:
        raise ArtifactError(f"unknown backbone {backbone!r}; segmentation-models has {names}")


@contextlib.contextmanager
def _quiet_build() -> Iterator[None]:
    with warnings.catch_warnings():
        # keras-applications warns for every input that is not 1 or 3 bands; ours have 4-13.
        warnings.filterwarnings(
            "ignore", message="This model usually expects 1 or 3 input channels"
        )
        yield


def build_coarse_model(backbone: str = "resnet18", bands: int = 7) -> keras.Model:
    """Coarse model: a CNN encoder cut at its stride-32 feature map, a 1x1 conv and a softmax.

    Input ``(G * 32, G * 32, bands)`` (any size, any band count), output ``(G, G, 4)``
    probabilities of Overcast / Partly Cloudy / Cloudless / No Data. The encoder is
    segmentation-models' backbone without its classification top and with random weights
    (pretrained weights cannot be downloaded here, and they expect 3 bands anyway).
    """
    _check_backbone(backbone)
    if bands < 1:
        raise ArtifactError(f"bands must be >= 1, got {bands}")
    with _quiet_build():
        encoder = sm().Backbones.get_backbone(
            backbone,
            input_shape=(None, None, bands),
            weights=None,
            include_top=False,
            **submodules(),
        )
    x = keras.layers.Conv2D(len(CELL_CLASS_NAMES), 1, name="coarse_logits")(encoder.output)
    out = keras.layers.Activation("softmax", dtype="float32", name="coarse_softmax")(x)
    return keras.Model(encoder.input, out, name=f"coarse_{backbone}")


def _check_options(arch: str, options: dict[str, Any]) -> dict[str, Any]:
    allowed = FINE_OPTIONS[arch]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ArtifactError(
            f"{arch} does not take option(s) {unknown}; it takes {sorted(allowed) or 'none'}"
        )
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("decoder_filters",):
            ok = (
                isinstance(value, (list, tuple))
                and len(value) == 5
                and all(isinstance(v, int) and v > 0 for v in value)
            )
            if not ok:
                raise ArtifactError(
                    f"{arch} option {key} must be five positive integers (one per decoder "
                    f"stage, from the deepest), got {value!r}"
                )
            out[key] = tuple(value)
        else:
            if not (isinstance(value, int) and value > 0):
                raise ArtifactError(
                    f"{arch} option {key} must be a positive integer, got {value!r}"
                )
            out[key] = value
    return out


def build_fine_model(
    architecture: str = "Unet",
    backbone: str = "resnet18",
    bands: int = 7,
    patch: int = 256,
    options: dict[str, Any] | None = None,
    classes: int = 3,
) -> keras.Model:
    """Fine model: a segmentation-models network on ``(patch, patch, bands)`` windows.

    Output ``(patch, patch, classes)`` sigmoid probabilities of Cloud / Clear / No Data (the
    paper's choice of sigmoid over softmax), and Cloud shadow with ``classes=4``.
    ``architecture`` is one of Unet, FPN, Linknet, PSPNet; the encoder starts from random
    weights. ``options`` sizes the decoder (:data:`FINE_OPTIONS`: e.g.
    ``{"decoder_filters": [64, 48, 32, 16, 8]}`` for a compact U-Net).
    """
    arch = {a.lower(): a for a in FINE_ARCHITECTURES}.get(architecture.lower())
    if arch is None:
        raise ArtifactError(
            f"unknown fine architecture {architecture!r}; expected one of {FINE_ARCHITECTURES}"
        )
    kwargs = _check_options(arch, dict(options or {}))
    _check_backbone(backbone)
    if arch == "PSPNet" and patch % PSPNET_MULTIPLE:
        raise ArtifactError(
            f"PSPNet needs a window that is a multiple of {PSPNET_MULTIPLE} pixels, got patch="
            f"{patch}; use patch=288 with margin=20 (the same 248-pixel cell core and grid)"
        )
    if arch != "PSPNet" and patch % 32:
        raise ArtifactError(f"{arch} needs a window that is a multiple of 32, got patch={patch}")
    factory = getattr(sm(), arch)
    with _quiet_build():
        return factory(
            backbone,
            input_shape=(patch, patch, bands),
            classes=classes,
            activation="sigmoid",
            encoder_weights=None,
            **kwargs,
        )


# Sidecar options that are decisions on the model's output, not architecture.
DECISION_OPTIONS = ("shadow_threshold",)


def build_model(spec: ModelSpec) -> keras.Model:
    """Rebuild the architecture a sidecar describes (random weights)."""
    if spec.role == "coarse":
        if spec.architecture != COARSE_ARCHITECTURE:
            raise ArtifactError(
                f"coarse architecture {spec.architecture!r} is unknown; expected "
                f"{COARSE_ARCHITECTURE!r}"
            )
        if spec.options:
            raise ArtifactError(f"the coarse model takes no options, got {sorted(spec.options)}")
        return build_coarse_model(spec.backbone, len(spec.bands))
    return build_fine_model(
        spec.architecture,
        spec.backbone,
        len(spec.bands),
        spec.patch,
        {k: v for k, v in spec.options.items() if k not in DECISION_OPTIONS},
        classes=len(spec.classes),
    )


def save_model(
    model: keras.Model,
    spec: ModelSpec,
    folder: str | Path,
    name: str | None = None,
    *,
    overwrite: bool = False,
) -> ModelSpec:
    """Write ``NAME.weights.h5`` and ``NAME.json`` (``NAME`` defaults to the spec's role).

    Returns the spec as written, with the weights file name and its SHA-256 filled in. Both
    files are written to temporary names first and renamed, weights before sidecar.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = name or spec.role
    weights = folder / f"{name}.weights.h5"
    sidecar = folder / f"{name}.json"
    for path in (weights, sidecar):
        if path.exists() and not overwrite:
            raise ArtifactError(f"{path} already exists; pass overwrite=True to replace it")
    # Keras insists on the .weights.h5 suffix, so the temporary file keeps it. Weights go in
    # place first, then the sidecar that vouches for them by SHA-256: an interruption between
    # the two leaves a mismatch that loading reports, never a silently wrong pair.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".weights.h5", dir=folder)
    os.close(fd)
    try:
        model.save_weights(tmp_name, overwrite=True)
        if spec.weights_dtype != "float32":
            _cast_weights_file(tmp_name, spec.weights_dtype)
        written = spec.with_updates(weights=weights.name, weights_sha256=sha256_file(tmp_name))
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from other users
        os.replace(tmp_name, weights)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    written.write(sidecar, overwrite=True)
    return written


def _cast_weights_file(path: str, dtype: str) -> None:
    """Rewrite a Keras weights file with its float32 arrays stored as ``dtype``.

    Keras casts each array to its variable's dtype when loading, so a float16 file loads into
    the float32 model as the float16-rounded weights (half the bytes on disk).
    """
    import h5py

    fd, cast_name = tempfile.mkstemp(suffix=".weights.h5", dir=os.path.dirname(path) or ".")
    os.close(fd)
    try:
        with h5py.File(path, "r") as src, h5py.File(cast_name, "w") as dst:
            dst.attrs.update(src.attrs)

            def copy(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Group):
                    dst.require_group(name).attrs.update(obj.attrs)
                    return
                data = obj[()]
                if isinstance(data, np.ndarray) and data.dtype == np.float32:
                    data = data.astype(dtype)
                big = isinstance(data, np.ndarray) and data.size >= 1024
                dst.create_dataset(
                    name,
                    data=data,
                    compression="gzip" if big else None,
                    shuffle=big,
                ).attrs.update(obj.attrs)

            src.visititems(copy)
        os.replace(cast_name, path)
    finally:
        if os.path.exists(cast_name):
            os.unlink(cast_name)


def load_model(spec: ModelSpec, folder: str | Path) -> keras.Model:
    """Rebuild the model of ``spec`` and load its weights from ``folder``."""
    weights = Path(folder) / spec.weights
    if not weights.is_file():
        raise ArtifactError(f"{spec.role} weights {weights} are missing")
    model = build_model(spec)
    try:
        model.load_weights(weights)
    except Exception as exc:  # h5py/keras raise many types for a bad file
        raise ArtifactError(
            f"cannot load {spec.role} weights {weights} into {spec.architecture}/"
            f"{spec.backbone} with {len(spec.bands)} bands: {exc}"
        ) from exc
    return model


def count_params(model: Any) -> int:
    """Number of weights of a Keras model."""
    return int(sum(np.prod(w.shape) for w in model.weights))
