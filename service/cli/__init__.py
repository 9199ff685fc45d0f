"""The `rankroom` command: one module per command group."""

from service.cli.main import main

__all__ = ["main"]
