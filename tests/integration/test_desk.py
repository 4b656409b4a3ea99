"""The desk's web side on the real broker, as any HTTP client sees it: read-only, bounded,
closed to strangers when exposed, and a live stream that resumes without gaps and replays
each alert at its latest revision only."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import aiohttp
import pytest

from tests.helpers import WIREWATCH, free_port
from tests.helpers.accounting import produce
from tests.helpers.deployment import Deployment
from tests.helpers.desk import DeskProcess, alert_revision, start_desk

TOKEN = "desk-token-3f9a61c2e8b74d05"


@pytest.fixture(scope="module")
def desk(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory):
    process = start_desk(deployment, tmp_path_factory.mktemp("desk") / "desk.log",
                         WIREWATCH_DESK_MAX_STREAMS="3")
    yield process
    assert process.stop() == 0, process.log_text()[-3000:]


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_every_answer_carries_a_strict_content_security_policy(desk: DeskProcess):
    for path in ("/", "/static/desk.js", "/api/config", "/nowhere"):
        _, headers, _ = fetch(desk.url + path)
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path", "status", "says"), [
    ("POST", "/", 405, "read-only"),
    ("DELETE", "/api/dispatches/x", 405, "read-only"),
    ("GET", "/?colour=red", 400, "unknown filter(s): colour"),
    ("GET", "/?topic=weather", 400, "unknown topic 'weather'"),
    ("GET", "/?q=" + "x" * 600, 400, "at most 500 characters"),
    ("GET", "/?q=" + "x" * 3000, 414, "query string over"),
    ("GET", "/api/dispatches/not-held-here", 404, "no longer holds that dispatch"),
    ("GET", "/static/../../etc/passwd", 404, "no such"),
])
def test_bad_requests_get_clear_4xx_answers(desk, method, path, status, says):
    code, _, body = fetch(desk.url + path, method)
    assert code == status, body
    assert says in body.decode()
    assert desk.process.poll() is None


def test_a_huge_request_line_is_refused_and_the_desk_stays_up(desk):
    code, _, _ = fetch(desk.url + "/?q=" + "y" * 20_000)
    assert code in (400, 414)
    assert fetch(desk.url + "/api/config")[0] == 200


def test_live_streams_beyond_the_limit_get_503_and_the_others_keep_working(desk):
    async def open_streams() -> list[int]:
        async with aiohttp.ClientSession() as session:
            responses = [await session.get(f"{desk.url}/events") for _ in range(5)]
            statuses = [r.status for r in responses]
            extra = await responses[-1].text() if statuses[-1] == 503 else ""
            first_line = await asyncio.wait_for(responses[0].content.readline(), 10)
            for response in responses:
                response.close()
            assert b"retry:" in first_line
            assert "WIREWATCH_DESK_MAX_STREAMS" in extra
            return statuses

    assert asyncio.run(open_streams()) == [200, 200, 200, 503, 503]
    assert fetch(desk.url + "/api/config")[0] == 200


def test_an_exposed_desk_refuses_to_start_without_a_token(deployment, tmp_path):
    result = subprocess.run([WIREWATCH, "desk"], capture_output=True, timeout=60, check=False,
                            env={**deployment.env, "WIREWATCH_DESK_HOST": "0.0.0.0",
                                 "WIREWATCH_DESK_PORT": str(free_port())})
    assert result.returncode == 1
    assert "without an access token: set WIREWATCH_DESK_TOKEN" in result.stderr.decode()


def test_with_a_token_strangers_get_401_and_the_token_becomes_a_cookie(deployment, tmp_path):
    desk = start_desk(deployment, tmp_path / "desk.log", WIREWATCH_DESK_HOST="0.0.0.0",
                      WIREWATCH_DESK_TOKEN=TOKEN)
    try:
        for path in ("/", "/events", "/api/config", "/healthz", "/static/desk.js"):
            assert fetch(desk.url + path)[0] == 401, path
        assert fetch(desk.url + "/?token=wrong-token-wrong-token")[0] == 401
        assert fetch(desk.url + "/api/config",
                     headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200

        async def open_with_token() -> tuple[str, int, str]:
            # unsafe: aiohttp keeps no cookie of an IP address unless told to; browsers do.
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)
                                             ) as session:
                async with session.get(f"{desk.url}/?topic=withdrawal&token={TOKEN}",
                                       allow_redirects=False) as first:
                    location = first.headers["Location"]
                    cookie = first.cookies["wirewatch_desk"]
                    assert cookie["httponly"] and cookie["samesite"] == "Strict"
                async with session.get(desk.url + location) as page:
                    return location, page.status, await page.text()

        location, status, page = asyncio.run(open_with_token())
        assert location == "/?topic=withdrawal", "the token leaves the address"
        assert status == 200 and "<html" in page.lower()
        assert TOKEN not in desk.log_text()
    finally:
        desk.stop()


async def replay(url: str) -> list[dict] | None:
    """The alerts a fresh live stream sends before `ready`; None while the desk is full."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/events") as response:
        if response.status == 503:  # streams of earlier tests not yet noticed as closed
            return None
        assert response.status == 200
        alerts, kind = [], None
        while line := (await asyncio.wait_for(response.content.readline(), 10)).decode():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ").strip()
            elif line.startswith("data: ") and kind == "alert":
                alerts.append(json.loads(line.removeprefix("data: ")))
            elif kind == "ready":
                return alerts
        raise AssertionError("the stream ended before `ready`")


def test_a_fresh_stream_replays_only_the_latest_revision_of_an_alert(
        desk: DeskProcess, deployment: Deployment):
    story = str(uuid.uuid4())
    produce(deployment.settings, [
        alert_revision(story, 1, "new", "first"), alert_revision(story, 2, "updated", "second"),
        alert_revision(story, 1, "new", "first")],  # a redelivery, after the update
        topic=deployment.settings.alert_topic("withdrawal"))
    deadline = time.monotonic() + 30
    while True:
        alerts = asyncio.run(replay(desk.url))
        ours = [a for a in alerts or [] if a["alert_id"] == story]
        if any(a["revision"] == 2 for a in ours) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(a["revision"], a["status"], a["headline"]) for a in ours] == [
        (2, "updated", "second")]
