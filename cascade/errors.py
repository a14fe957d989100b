"""Exception classes.

Every error the library raises on bad input is a :class:`CascadeError` and also the builtin
exception a caller would expect (``ValueError`` for a bad value, ``TypeError`` for a bad
type), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["CascadeError", "GeometryError", "InputArrayError"]


class CascadeError(Exception):
    """Base class of all cloud-cascade errors."""


class GeometryError(CascadeError, ValueError):
    """An invalid scene geometry, window or cell index."""


class InputArrayError(CascadeError, ValueError):
    """An array argument with the wrong shape, dtype or values."""
