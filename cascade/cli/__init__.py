"""The ``cascade`` command line: thin commands over library functions, one module each.

Commands are loaded when they run (``cascade mask`` imports nothing of ``cascade batch``).
Besides the built-in ones, packages add commands through the ``cascade.commands`` entry-point
group (the ``training`` package adds ``train`` and ``simulate``), so this package names no
other package. What every command shares is in one place, :meth:`CascadeGroup.invoke`:

- library errors (and any other exception) become a one-line ``Error: ...`` and exit code 1
  (with ``-v`` an unexpected exception shows its traceback);
- messages name command-line options (``--batch-size``, ``--scale``, ``--overwrite``), not
  Python parameters (:func:`cascade.errors.option_names`);
- SIGINT, SIGTERM and SIGHUP interrupt the command alike: what it was writing is removed
  (outputs are committed only when complete) and it exits with 128 + the signal's number
  (130, 143, 129); a signal the caller ignores (``nohup``'s SIGHUP) stays ignored;
- Python warnings are logged as one line each (``WARNING cascade: ...``, hidden by ``-q``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
import threading
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import click

from cascade import __version__
from cascade.cli.options import set_log_level
from cascade.errors import CascadeError, option_names

__all__ = ["ENTRY_POINT_GROUP", "OPTION_NAMES", "CascadeGroup", "Terminated", "main"]

# Python parameter (or output role) -> how the command line calls it, for messages.
OPTION_NAMES = {
    "batch_size": "--batch-size",
    "input_scale": "--scale",
    "overwrite": "--overwrite",
    "threshold": "--threshold",
    "shadow": "--shadow/--no-shadow",
    "shadow_threshold": "--shadow-threshold",
    "confidence": "--confidence",
    "coarse_from": "--coarse-from",
    "output": "OUTPUT",
    "probabilities": "--probabilities",
    "valid": "--valid",
    "coarse_grid": "--coarse-grid",
    "report": "--report",
    "quicklook": "--quicklook",
}
# Signals that end a command the way Ctrl-C does (SIGINT raises KeyboardInterrupt itself).
_INTERRUPTING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread as an interruption."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


ENTRY_POINT_GROUP = "cascade.commands"

# name -> "module:attribute" of the built-in commands
BUILTIN = {
    "grid": "cascade.cli.grid:grid",
    "mask": "cascade.cli.mask:mask",
    "info": "cascade.cli.info:info",
    "batch": "cascade.cli.batch:batch_command",
    "demo": "cascade.cli.demo:demo",
}


def _load(target: str) -> click.Command:
    module, _, attr = target.partition(":")
    command = getattr(importlib.import_module(module), attr)
    if not isinstance(command, click.Command):
        raise click.ClickException(f"{target} is not a click command")
    return command


class CascadeGroup(click.Group):
    """A group whose commands load on demand, from :data:`BUILTIN` and entry points."""

    def _targets(self) -> dict[str, str]:
        extra = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return extra | BUILTIN  # a plug-in cannot replace a built-in command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._targets())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._targets().get(cmd_name)
        return _load(target) if target is not None else None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command (see the module docstring for what every command shares)."""
        with option_names(OPTION_NAMES), _signals_interrupt(), _warnings_logged():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as exc:
                signum = getattr(exc, "signum", signal.SIGINT)
                click.echo(f"Aborted by {signal.Signals(signum).name}.", err=True)
                raise click.exceptions.Exit(128 + signum) from None
            except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
                raise
            except (CascadeError, OSError) as exc:
                raise click.ClickException(str(exc)) from exc
            except Exception as exc:
                if ctx.params.get("verbose"):
                    raise
                raise click.ClickException(
                    f"unexpected {type(exc).__name__}: {exc} (cascade -v shows where)"
                ) from exc


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (main thread only),
    unless they are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    # A signal the caller ignores stays ignored (nohup's SIGHUP, a background job's SIGINT).
    previous = {
        s: signal.signal(s, interrupt)
        for s in _INTERRUPTING
        if signal.getsignal(s) is signal.SIG_DFL
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _warnings_logged() -> Iterator[None]:
    """Within the block, a Python warning is one log line (without its source line)."""
    previous = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        logging.getLogger("cascade").warning("%s", message)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@click.group(cls=CascadeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cascade")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def main(verbose: int, quiet: bool) -> None:
    """Full-scene cloud masks with a coarse/fine CNN cascade."""
    set_log_level(verbose, quiet)
