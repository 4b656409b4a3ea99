"""What the wirewatch commands share: the settings, how they report errors, exit codes."""

from __future__ import annotations

from rich.console import Console

from streams.worker.app import app

settings = app.wirewatch_settings
stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # no wrapping of messages
EXIT_FAILURE = 1
EXIT_USAGE = 2  # click's status for usage errors, which usage_error() raises
EXIT_TIMEOUT = 3

def fail(message: str) -> SystemExit:
    """Say what went wrong, plainly, and exit non-zero (raise the result)."""
    stderr.print(f"[bold red]error:[/] {message}")
    return SystemExit(EXIT_FAILURE)


def usage_error(command: str, message: str) -> SystemExit:
    """A command used wrongly (options that exclude each other, an unknown name): say so as
    click does for an unknown option, and exit 2 (raise the result). Raised inside a
    command's coroutine, where click's own UsageError would pass through Faust's worker
    as a traceback."""
    stderr.print(f"Usage: wirewatch {command} [OPTIONS] ...\n"
                 f"Try 'wirewatch {command} -h' for help.\n\n[bold red]Error:[/] {message}")
    return SystemExit(EXIT_USAGE)
