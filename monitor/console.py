"""The rich console the CLI tables are drawn on (imported only by CLI commands)."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console

__all__ = ["table_console"]


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's default exits 1, which scripts read as "an asset expires soon";
        # main() turns this into its own status (141), quietly
        self.quiet = True
        raise BrokenPipeError


def table_console(out: TextIO) -> Console:
    """A console on ``out``: the terminal's width, or 200 columns into a pipe or file."""
    return _Console(file=out, width=None if out.isatty() else 200)
