"""Every exception class of cloud-cascade and its training tools, in one module.

Each error is a :class:`CascadeError` and also the builtin exception a caller would expect
(``ValueError`` for a bad value, ``OSError`` for a file that cannot be read or written,
``FileExistsError`` for an output that exists, ``RuntimeError`` for a model that answers in
the wrong form), so ``except ValueError`` or ``except OSError`` keeps working.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar

__all__ = [
    "ArtifactError",
    "BandMismatchError",
    "BatchError",
    "CascadeError",
    "ConfigError",
    "DatasetError",
    "DeriveError",
    "GeometryError",
    "InputArrayError",
    "InputError",
    "LossConfigError",
    "ModelOutputError",
    "OutputError",
    "OutputExistsError",
    "RecipeError",
    "SimulationError",
    "chained_message",
    "name_of",
    "option_names",
]

# How the settings are called where the user gave them: empty in Python (the parameter names),
# the command line's option names while a ``cascade`` command runs (see :func:`option_names`).
_OPTION_NAMES: ContextVar[Mapping[str, str] | None] = ContextVar(
    "cascade_option_names", default=None
)


def name_of(param: str, python: str | None = None) -> str:
    """What to call the setting ``param`` in a message: its command-line option while a
    ``cascade`` command runs (``--batch-size``), else ``python`` (default: ``param``)."""
    names = _OPTION_NAMES.get() or {}
    return names.get(param, python if python is not None else param)


def chained_message(exc: BaseException) -> str:
    """What went wrong, from an exception and those chained to it (``a: b: c``).

    rasterio raises ``... See previous exception for details`` with GDAL's own message in
    the chained exception; this joins them, without that phrase.
    """
    parts: list[str] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = re.sub(r"\s*See previous exception for details\.?", "", str(e)).strip()
        if text and text.rstrip(".") not in parts:
            parts.append(text.rstrip("."))
        e = e.__cause__ or e.__context__
    return ": ".join(parts) or type(exc).__name__


@contextlib.contextmanager
def option_names(names: Mapping[str, str]) -> Iterator[None]:
    """Within the block, messages name settings by ``names`` (parameter -> option)."""
    token = _OPTION_NAMES.set({**(_OPTION_NAMES.get() or {}), **names})
    try:
        yield
    finally:
        _OPTION_NAMES.reset(token)


class CascadeError(Exception):
    """Base class of all cloud-cascade errors."""


# -- values -----------------------------------------------------------------------------


class GeometryError(CascadeError, ValueError):
    """An invalid scene geometry, window or cell index."""


class InputArrayError(CascadeError, ValueError):
    """An array argument with the wrong shape, dtype or values."""


class ConfigError(CascadeError, ValueError):
    """An invalid engine setting: router, threshold, batch size, band profile, ..."""


class ArtifactError(CascadeError, ValueError):
    """A model artifact that is missing, corrupt, or inconsistent with itself."""


class BandMismatchError(CascadeError, ValueError):
    """A scene whose bands do not match what a model or band profile expects."""


class BatchError(CascadeError, ValueError):
    """A batch that cannot start: no inputs, clashing output names, no usable model, etc."""


# -- files ------------------------------------------------------------------------------


class InputError(CascadeError, OSError):
    """An input that cannot be read: missing, corrupt, or inconsistent."""


class OutputError(CascadeError, OSError):
    """An output that cannot be written: missing or read-only folder, clashing paths."""


class OutputExistsError(CascadeError, FileExistsError):
    """An output file exists and overwriting was not asked for."""


# -- models -----------------------------------------------------------------------------


class ModelOutputError(CascadeError, RuntimeError):
    """A model (predictor) that returned an array of the wrong shape."""


# -- training tools (the ``training`` package) ------------------------------------------


class DatasetError(CascadeError, ValueError):
    """A dataset file that is missing, malformed, or inconsistent with its companions."""


class SimulationError(CascadeError, ValueError):
    """A simulator setting or background that cannot work."""


class DeriveError(CascadeError, ValueError):
    """Input that cannot become a training set, or a set file of the wrong kind."""


class RecipeError(CascadeError, ValueError):
    """A training recipe that cannot be read or used."""


class LossConfigError(CascadeError, ValueError):
    """An invalid loss setting."""
