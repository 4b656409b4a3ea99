"""Running `wirewatch desk` in tests: a real process on the real broker, on a free port; and
revisions of an alert to publish to it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas import Alert, AlertStatus
from tests.helpers import WIREWATCH, free_port
from tests.helpers.deployment import Deployment, stop_process


@dataclass
class DeskProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        return stop_process(self.process, timeout)


def health(url: str, token: str | None = None) -> dict | None:
    """The desk's /healthz answer, or None while it does not answer 200."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/healthz", headers=headers),
                                    timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def start_desk(deployment: Deployment, log: Path, port: int | None = None,
               **env: str) -> DeskProcess:
    """Start `wirewatch desk` and wait until it has read back its history."""
    port = port or free_port()
    full_env = {**deployment.env, "WIREWATCH_DESK_PORT": str(port), **env}
    with log.open("ab") as out:
        process = subprocess.Popen([WIREWATCH, "desk"], env=full_env, stdout=out,
                                   stderr=subprocess.STDOUT)
    desk = DeskProcess(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the desk exited ({process.returncode}):\n{desk.log_text()}")
        status = health(desk.url, env.get("WIREWATCH_DESK_TOKEN"))
        if status and status.get("ready"):
            return desk
        time.sleep(0.2)
    desk.stop()
    raise AssertionError(f"the desk did not get ready in 90 s:\n{desk.log_text()[-3000:]}")


def wait_for_health(url: str, condition: Callable[[dict], bool], timeout: float = 30) -> dict:
    """The desk's /healthz answer once `condition` holds for it."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = health(url)
        if status is not None and condition(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"the desk's health did not get there in {timeout} s: {status}")


def alert_revision(alert_id: str, revision: int, status: AlertStatus, headline: str,
                   topic: str = "withdrawal") -> tuple[bytes, bytes]:
    """One revision of an alert as the worker publishes it: (key, value). A retraction has
    score 0 and no evidence; each revision is raised a minute after the one before."""
    alert = Alert(
        alert_id=alert_id, revision=revision, status=status, topic=topic,
        score=0.0 if status == "retracted" else 0.9, salience="lead", evidence=[],
        dispatch_id=f"{alert_id[:8]}-v{revision}", story_id=f"story-{alert_id[:8]}",
        version=revision, headline=headline, lead=f"{headline}: the lead.", agency="AFP",
        entities=[], alerted_at=datetime(2022, 3, 2, 6, tzinfo=UTC) + timedelta(
            minutes=revision))
    return alert_id.encode(), alert.model_dump_json().encode()
