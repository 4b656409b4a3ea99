"""`wirewatch broker`: the local development broker."""

from __future__ import annotations

import asyncio

import click
from faust.cli import AppCommand, argument

from streams.cli.common import EXIT_FAILURE, fail, settings
from streams.devbroker import broker as localbroker
from streams.worker.app import app


@app.command(
    argument("action", type=click.Choice(["start", "stop", "status", "fetch"]),
             required=True),
)
async def broker(self: AppCommand, action: str) -> None:
    """Run the local Kafka broker (KRaft, single node, on loopback) for development and tests.

    start   resolve the Kafka jars (once), format storage (once), start, wait until it answers
    stop    stop the broker this project started, and only that process
    status  say whether it runs and answers
    fetch   only resolve the Kafka jars from Maven Central into the cache folder
    """
    try:
        if action == "start":
            result = await asyncio.to_thread(localbroker.start, settings)
            state = "already running" if result.already_running else "started"
            print(f"Kafka broker {state} on {settings.broker_host}:{settings.broker_port} "
                  f"(pid {result.pid}, {result.seconds:.1f}s); data and logs in "
                  f"{settings.state_dir / 'broker'}")
        elif action == "stop":
            pid = await asyncio.to_thread(localbroker.stop, settings)
            print(f"Kafka broker stopped (pid {pid})" if pid else
                  "no broker started by this project is running")
        elif action == "status":
            status = localbroker.status(settings)
            if status.pid:
                print(f"running: pid {status.pid}, {status.bootstrap}, "
                      f"{'answering' if status.answering else 'NOT answering'}; {status.home}")
            else:
                other = " (but something else answers on that port)" if status.answering else ""
                jars = "cached" if status.jars_resolved else "not yet resolved"
                print(f"not running{other}; jars {jars}")
                raise SystemExit(EXIT_FAILURE)
        elif action == "fetch":
            paths = localbroker.BrokerPaths.from_settings(settings)
            lib = await asyncio.to_thread(localbroker.resolve_jars, paths)
            print(f"Kafka {localbroker.kafka_version()} jars in {lib}")
    except localbroker.BrokerError as exc:
        raise fail(str(exc)) from None
