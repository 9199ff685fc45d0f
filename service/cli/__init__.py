"""The `rankroom` command: one module per command group."""

from service.cli.commands import main

__all__ = ["main"]
