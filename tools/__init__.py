"""Repository tools (not installed): the size check run by ``make lint`` and ``make test``."""
