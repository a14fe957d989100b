"""The ``cascade`` command line: thin commands over library functions, one module each.

Commands are loaded when they run (``cascade mask`` imports nothing of ``cascade batch``).
Besides the built-in ones, packages add commands through the ``cascade.commands`` entry-point
group (the ``training`` package adds ``train`` and ``simulate``), so this package names no
other package. Every command's library errors are turned into a one-line message and exit
code 1 in one place, :meth:`CascadeGroup.invoke`.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Any

import click

from cascade import __version__
from cascade.cli.options import set_log_level
from cascade.errors import CascadeError

__all__ = ["ENTRY_POINT_GROUP", "CascadeGroup", "main"]

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
        """Run the command; the library's errors become a message and exit code 1."""
        try:
            return super().invoke(ctx)
        except (CascadeError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=CascadeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cascade")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def main(verbose: int, quiet: bool) -> None:
    """Full-scene cloud masks with a coarse/fine CNN cascade."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    set_log_level(verbose, quiet)
