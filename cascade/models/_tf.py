"""TensorFlow and Keras, imported once and quietly: the models' modules import them from here.

Importing TensorFlow prints lines of its C++ start-up to stderr (``cudart_stub`` on a machine
without CUDA, ``cpu_feature_guard``, then ``failed call to cuInit`` when it first looks for
devices), and some come from code that logs before absl's logging is set up, which no
setting silences. So, unless ``CASCADE_TF_LOGS=1`` is set (``cascade -v`` sets it), the
import and the device discovery run here once with file descriptor 2 redirected to a
temporary file, ``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 and absl's Python logging to errors;
what TensorFlow said is logged at DEBUG level on the ``cascade.models`` logger (and shown on
stderr if the import fails).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

__all__ = ["LOGS_ENV", "keras", "tf"]

log = logging.getLogger("cascade.models")

LOGS_ENV = "CASCADE_TF_LOGS"
_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}


@contextlib.contextmanager
def _stderr_to_file() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (C++ and Python writes alike) into a list of lines."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines += sink.read().decode(errors="replace").splitlines()


def _load() -> tuple[Any, Any]:
    if os.environ.get(LOGS_ENV, "0") == "1":
        import keras as keras_module
        import tensorflow as tf_module

        return tf_module, keras_module
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    said: list[str] = []
    try:
        with _stderr_to_file() as said:
            import keras as keras_module
            import tensorflow as tf_module

            tf_module.config.list_physical_devices()  # device discovery: the cuInit line
    except BaseException:
        sys.stderr.write("\n".join(said) + "\n")
        raise
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    for line in said:
        log.debug("tensorflow: %s", line)
    return tf_module, keras_module


tf, keras = _load()
