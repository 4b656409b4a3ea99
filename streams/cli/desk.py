"""`wirewatch desk`: serve the desk, live alerts in the browser."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.cli import AppCommand

from streams.cli.common import fail, settings, stderr
from streams.clients.alert_topics import (
    alert_topics_in_force,
    alert_topics_on_broker,
    watch_descriptions,
)
from streams.clients.kafka import BrokerConnectionError, TopicsNotReady, ensure_topics
from streams.clients.watches import read_watch_book
from streams.desk.feed import DeskFeed
from streams.desk.web import DeskConfigError, check_exposure, create_desk_app
from streams.worker.app import app


@app.command()
async def desk(self: AppCommand) -> None:
    """Serve the desk: the recent alerts in the browser, new ones live, evidence highlighted.

    It listens on WIREWATCH_DESK_HOST:WIREWATCH_DESK_PORT (default 127.0.0.1:8080) and reads
    the alert topics (those of every watch on the watches topic, the surge alerts', and any
    created while it runs: a watch added) and the enriched dispatches; it holds the last
    WIREWATCH_DESK_ALERTS_HELD alerts and WIREWATCH_DESK_DISPATCHES_HELD dispatches. On any
    address but a loopback one it needs WIREWATCH_DESK_TOKEN. Read-only: it changes nothing
    on Kafka.
    """
    try:
        check_exposure(settings)
    except DeskConfigError as exc:
        raise fail(str(exc)) from None
    try:
        book = await read_watch_book(settings)
        in_force = list(alert_topics_in_force(settings, book).values())
        await ensure_topics(settings, [*in_force, settings.topic_enriched])
        alert_topics = sorted({*in_force, *await alert_topics_on_broker(settings)})
    except (BrokerConnectionError, TopicsNotReady, TimeoutError) as exc:
        raise fail(str(exc)) from None
    watched = watch_descriptions(settings, book)
    for topic in alert_topics:  # a removed watch's topic: its alerts are still retracted
        watched.setdefault(topic.removeprefix(settings.alert_topic_prefix), "")
    feed = DeskFeed(settings, alert_topics, watched)
    runner = web.AppRunner(create_desk_app(settings, feed), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.desk_host, settings.desk_port)
        try:
            await site.start()
        except OSError as exc:
            raise fail(f"the desk cannot listen on {settings.desk_host}:{settings.desk_port} "
                       f"({exc.strerror}); set WIREWATCH_DESK_PORT to a free port") from None
        host = "127.0.0.1" if settings.desk_host in ("0.0.0.0", "::") else settings.desk_host
        stderr.print(f"desk on http://{host}:{settings.desk_port}/ (Ctrl-C to stop)")
        await feed.run()
    except asyncio.CancelledError:
        pass
    finally:
        await runner.cleanup()
