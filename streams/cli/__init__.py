"""The `wirewatch` command: Faust's command line (`wirewatch worker -l info`) under
wirewatch's name, with wirewatch's own commands. What these print is their interface."""

from __future__ import annotations

from importlib import metadata

import click

# Each module registers its commands on the app; agents registers the worker's agent.
from streams.cli import broker, desk, enrich, evaluation, replay, subscribe, watch
from streams.worker import agents
from streams.worker.app import app

__all__ = ["agents", "broker", "desk", "enrich", "evaluation", "main", "replay", "subscribe",
           "watch"]


WIREWATCH_HELP = """wirewatch: news-wire monitoring on Kafka.

Wire dispatches on the `dispatches` topic are validated, enriched with named entities,
classified into watched topics and fanned out to one alert topic per topic.

\b
  wirewatch broker start      the local development broker
  wirewatch worker -l info    the stream processor (start several to share the load)
  wirewatch replay            publish the seed feed (or your own files)
  wirewatch subscribe         print alerts as they arrive
  wirewatch desk              the alerts in the browser, live
  wirewatch watch list        the watches workers apply (add, rm, show, export)

Every command has --help. Settings are WIREWATCH_* environment variables (see README).
"""


def wirewatch_version() -> str:
    try:
        return metadata.version("wirewatch")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _print_version(context: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not context.resilient_parsing:
        click.echo(f"wirewatch {wirewatch_version()}")
        context.exit()


def _as_wirewatch(cli: click.Group) -> None:
    """Faust's command line under wirewatch's name: its help, its version, and -h for help
    everywhere (Faust gives -h to the worker's web host; --web-host stays)."""
    cli.help = WIREWATCH_HELP
    cli.params = [param for param in cli.params if param.name != "version"]
    cli.params.insert(0, click.Option(
        ["--version"], is_flag=True, expose_value=False, is_eager=True,
        callback=_print_version, help="Show wirewatch's version and exit."))
    for command in cli.commands.values():
        for param in command.params:
            param.opts = [name for name in param.opts if name != "-h"]
    cli.context_settings["help_option_names"] = ["-h", "--help"]


def main() -> None:
    """Console script: the wirewatch commands on Faust's command line."""
    from faust.cli.faust import cli

    _as_wirewatch(cli)
    app.main()
