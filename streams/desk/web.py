"""The desk's web side: the page, its static files, a live stream of alerts (Server-Sent
Events) and the enriched dispatches it holds. Read-only; every response carries a strict
Content-Security-Policy, since every text it serves comes from a dispatch."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from streams.desk.feed import DeskFeed, LiveStream
from streams.settings import Settings

logger = logging.getLogger(__name__)

STATIC = Path(str(resources.files("streams.desk") / "static"))
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
TOKEN_COOKIE = "wirewatch_desk"
MAX_QUERY_CHARS = 2_000
MAX_ID_CHARS = 200
# The page's filters, with the longest value each may take.
PAGE_FILTERS = {"topic": 100, "entity": 200, "q": 500}
KEEPALIVE_SECONDS = 15.0
# Cards the page keeps drawn (older ones leave the page): its memory stays bounded.
MAX_CARDS = 500
STATIC_FILES = {"desk.js": "text/javascript", "desk.css": "text/css"}

FEED: web.AppKey[DeskFeed] = web.AppKey("feed", DeskFeed)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DeskConfigError(ValueError):
    """The desk's settings would expose it: the message says what to set."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond this machine without an access token."""
    token = settings.desk_token.get_secret_value() if settings.desk_token else ""
    if not is_loopback(settings.desk_host) and not token:
        raise DeskConfigError(
            f"the desk would listen on {settings.desk_host}, beyond this machine, without an "
            "access token: set WIREWATCH_DESK_TOKEN (a long random string), or keep "
            "WIREWATCH_DESK_HOST=127.0.0.1 behind your own proxy")
    if token and len(token) < 16:
        raise DeskConfigError("WIREWATCH_DESK_TOKEN is too short to be a secret: use at least "
                              "16 characters, e.g. `openssl rand -hex 24`")


def problem(status: int, message: str, **headers: str) -> web.Response:
    """An error answer: JSON that says what is wrong."""
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What every request goes through: read-only methods, bounded queries, the token."""
    if request.method not in ("GET", "HEAD"):
        response: web.StreamResponse = problem(405, "the desk is read-only",
                                               Allow="GET, HEAD")
    elif len(request.query_string) > MAX_QUERY_CHARS:
        response = problem(414, f"query string over {MAX_QUERY_CHARS} characters")
    else:
        response = await _authorized(request, handler)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _authorized(request: web.Request, handler: Handler) -> web.StreamResponse:
    secret = request.app[SETTINGS].desk_token
    if secret is None:
        return await handler(request)
    token = secret.get_secret_value().encode()

    def matches(offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), token)

    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or None
    if matches(request.cookies.get(TOKEN_COOKIE)) or matches(bearer):
        return await handler(request)
    if matches(request.query.get("token")):
        # Trade the token in the address for a cookie, and drop it from the address (and so
        # from bookmarks, history and shared links).
        query = {k: v for k, v in request.query.items() if k != "token"}
        location = str(request.rel_url.with_query(query))
        response = web.HTTPSeeOther(location)
        response.set_cookie(TOKEN_COOKIE, token.decode(), httponly=True, samesite="Strict",
                            path="/", secure=request.secure)
        return response
    return problem(401, "this desk needs its access token: open it once as /?token=... or "
                        "send Authorization: Bearer ...", **{"WWW-Authenticate": "Bearer"})


async def page(request: web.Request) -> web.StreamResponse:
    unknown = sorted(set(request.query) - set(PAGE_FILTERS))
    if unknown:
        return problem(400, f"unknown filter(s): {', '.join(unknown)}; the desk filters by "
                            f"{', '.join(PAGE_FILTERS)}")
    for name, limit in PAGE_FILTERS.items():
        values = request.query.getall(name, [])
        if len(values) > 1 or any(len(value) > limit for value in values):
            return problem(400, f"filter {name!r}: one value of at most {limit} characters")
    topic = request.query.get("topic")
    watched = list(request.app[FEED].watched)  # it grows with the watches added
    if topic and topic not in watched:
        return problem(400, f"unknown topic {topic!r}; watched: {', '.join(watched)}")
    return web.FileResponse(STATIC / "index.html",
                            headers={"Content-Type": "text/html; charset=utf-8"})


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        return problem(404, "no such file")
    return web.FileResponse(STATIC / name,
                            headers={"Content-Type": f"{STATIC_FILES[name]}; charset=utf-8"})


async def config(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    watched = [{"name": name, "description": description}
               for name, description in request.app[FEED].watched.items()]
    return web.json_response({"watched": watched,
                              "alerts_held": settings.desk_alerts_held,
                              "max_cards": MAX_CARDS})


async def dispatch(request: web.Request) -> web.StreamResponse:
    dispatch_id = request.match_info["dispatch_id"]
    if len(dispatch_id) > MAX_ID_CHARS:
        return problem(400, f"a dispatch id has at most {MAX_ID_CHARS} characters")
    value = request.app[FEED].dispatches.get(dispatch_id)
    if value is None:
        return problem(404, "this desk no longer holds that dispatch (it keeps the "
                            f"{request.app[SETTINGS].desk_dispatches_held} most recent)")
    return web.Response(body=value, content_type="application/json")


async def health(request: web.Request) -> web.StreamResponse:
    feed = request.app[FEED]
    return web.json_response({"ready": feed.ready.is_set(), "alerts": len(feed.alerts),
                              "alerts_ignored": feed.alerts.ignored,
                              "dispatches": len(feed.dispatches),
                              "streams": len(feed.listeners)},
                             status=200 if feed.ready.is_set() else 503)


async def events(request: web.Request) -> web.StreamResponse:
    """The live stream: what the browser has not seen yet (all held alerts, each at its
    latest revision, on a first connection), then every new alert or revision of one as it
    comes, each with an event id to resume from. Events `alert` carry an alert of a watch,
    events `surge` a surge alert."""
    feed, settings = request.app[FEED], request.app[SETTINGS]
    if len(feed.listeners) >= settings.desk_max_streams:
        return problem(503, f"the desk serves at most {settings.desk_max_streams} live "
                            "streams (WIREWATCH_DESK_MAX_STREAMS); try again later",
                       **{"Retry-After": "10"})
    stream = LiveStream()
    feed.listeners.add(stream)  # before the catch-up: nothing falls in between
    try:
        await feed.ready.wait()
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no", **SECURITY_HEADERS})
        await response.prepare(request)
        await response.write(b"retry: 1000\n\n")
        sent = 0
        for held in feed.alerts.since(request.headers.get("Last-Event-ID")):
            await response.write(_event(held.kind, held.json, feed.alerts.event_id(held)))
            sent = held.seq
        await response.write(_event("ready", json.dumps({"held": len(feed.alerts)})))
        while not stream.dropped or not stream.queue.empty():
            try:
                held = await asyncio.wait_for(stream.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if held.seq > sent:  # not already sent in the catch-up
                await response.write(_event(held.kind, held.json, feed.alerts.event_id(held)))
        return response
    finally:
        feed.listeners.discard(stream)


def _event(kind: str, data: str, event_id: str | None = None) -> bytes:
    """One Server-Sent Event; `data` is one line of JSON (the models write no newline)."""
    lines = [f"event: {kind}", *([f"id: {event_id}"] if event_id else []), f"data: {data}"]
    return ("\n".join(lines) + "\n\n").encode()


async def no_icon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)  # browsers ask; an error would fill their console


async def not_found(request: web.Request) -> web.StreamResponse:
    return problem(404, f"no such page: {request.path[:100]}")


def create_desk_app(settings: Settings, feed: DeskFeed) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=1024)
    app[FEED], app[SETTINGS] = feed, settings
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/api/config", config)
    app.router.add_get("/api/dispatches/{dispatch_id:.+}", dispatch)
    app.router.add_get("/events", events)
    app.router.add_get("/healthz", health)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
