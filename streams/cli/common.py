"""What the wirewatch commands share: the settings, how they report errors, exit codes."""

from __future__ import annotations

from rich.console import Console

from streams.worker.app import app

settings = app.wirewatch_settings
stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # no wrapping of messages
EXIT_FAILURE = 1
EXIT_TIMEOUT = 3

def fail(message: str) -> SystemExit:
    """Say what went wrong, plainly, and exit non-zero (raise the result)."""
    stderr.print(f"[bold red]error:[/] {message}")
    return SystemExit(EXIT_FAILURE)
