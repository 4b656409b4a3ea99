"""Helpers that several test modules share (no test module imports another)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

WIREWATCH = str(Path(sys.executable).with_name("wirewatch"))
ROOT = Path(__file__).resolve().parents[2]  # the repository
DATA = ROOT / "tests" / "data"
# Shared data (../shared beside the repository, in CI too): read from there, never copied.
SHARED = ROOT.parent / "shared"


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `wirewatch` command as a user would."""
    return subprocess.run([WIREWATCH, *args], input=stdin, capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
