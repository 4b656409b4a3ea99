"""`wirewatch desk`: serve the desk, live alerts in the browser."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.cli import AppCommand

from streams.cli.common import fail, settings, stderr
from streams.clients.kafka import BrokerConnectionError, TopicsNotReady, ensure_topics
from streams.desk.feed import DeskFeed
from streams.desk.web import DeskConfigError, check_exposure, create_desk_app, watched_descriptions
from streams.worker import topics
from streams.worker.app import app


@app.command()
async def desk(self: AppCommand) -> None:
    """Serve the desk: the recent alerts in the browser, new ones live, evidence highlighted.

    It listens on WIREWATCH_DESK_HOST:WIREWATCH_DESK_PORT (default 127.0.0.1:8080) and reads
    the alert topics and the enriched dispatches; it holds the last WIREWATCH_DESK_ALERTS_HELD
    alerts and WIREWATCH_DESK_DISPATCHES_HELD dispatches. On any address but a loopback one it
    needs WIREWATCH_DESK_TOKEN. Read-only: it changes nothing on Kafka.
    """
    try:
        check_exposure(settings)
    except DeskConfigError as exc:
        raise fail(str(exc)) from None
    alert_topics = list(topics.names.alerts.values())
    try:
        await ensure_topics(settings, [*alert_topics, settings.topic_enriched])
    except (BrokerConnectionError, TopicsNotReady) as exc:
        raise fail(str(exc)) from None
    feed = DeskFeed(settings, alert_topics)
    runner = web.AppRunner(create_desk_app(settings, feed, watched_descriptions()),
                           access_log=None)
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
