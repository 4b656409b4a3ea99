"""The CLI as a user runs it: offline enrichment, and clear failures without a broker."""

from __future__ import annotations

import json

import pytest

from schemas import EnrichedDispatch
from seeds import SEED_FEED
from tests.helpers import free_port, run


def test_enrich_turns_dispatch_lines_into_enriched_lines_and_reports_bad_ones():
    stdin = SEED_FEED.read_bytes() + b"{oops\n\n" + json.dumps(
        {"id": "x", "language": "fr", "body": "Kiev et Moscou négocient."}).encode() + b"\n"
    result = run("enrich", stdin=stdin)
    assert result.returncode == 1  # one line was invalid
    assert "stdin:2: invalid_json" in result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    enriched = [EnrichedDispatch.model_validate_json(line) for line in lines]
    assert [e.id for e in enriched] == ["702952208b099811", "x"]
    assert enriched[0].topics[0].topic == "withdrawal"


def test_replay_and_subscribe_fail_fast_and_clearly_when_no_broker_answers():
    env = {"WIREWATCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    # --repeat also checks that the option does not clash with Faust's own `--loop`.
    for args in (("replay",), ("replay", "--repeat", "--rate", "2"),
                 ("subscribe", "--timeout", "5")):
        result = run(*args, env=env)
        assert result.returncode == 1, args
        assert "no Kafka broker answers" in result.stderr.decode(), args


@pytest.mark.parametrize(("args", "says"), [
    (("replay", "--rate", "5", "--speed", "2"), "--rate and --speed exclude each other"),
    (("replay", "--rate", "0"), "Invalid value for '--rate'"),
    (("broker", "restart"), "'restart' is not one of 'start', 'stop', 'status', 'fetch'"),
    (("enrich", "--batch-size", "0"), "Invalid value for '--batch-size'"),
    (("eval-entities", "x.jsonl", "--pipeline", "best"), "'best' is not one of"),
    (("subscribe", "--max", "0"), "Invalid value for '--max'"),
    (("replay", "--no-such-option"), "No such option"),
])
def test_usage_errors_exit_2_and_say_what_is_wrong(args, says):
    result = run(*args)
    assert result.returncode == 2, result.stderr.decode()
    err = result.stderr.decode()
    assert says in err and f"wirewatch {args[0]} -h" in err.replace("'", "")
    assert "Traceback" not in err


def test_help_explains_the_commands_under_wirewatchs_name():
    out = run("--help").stdout.decode()
    for command in ("broker", "enrich", "replay", "subscribe", "worker"):
        assert command in out
    assert "wirewatch: news-wire monitoring on Kafka" in out
    assert "faust" not in out.lower().split("options:")[0]
    assert run("-h").stdout.decode() == out  # -h is help, as everywhere


def test_version_is_wirewatchs():
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"wirewatch {version('wirewatch')}"


def test_worker_help_keeps_the_web_host_option_without_taking_h():
    out = run("worker", "-h").stdout.decode()
    assert "--web-host" in out and "-h, --help" in out


def test_pacing_by_rate_or_by_original_spacing():
    from datetime import UTC, datetime, timedelta

    from schemas import Dispatch
    from streams.feeds.pacing import pacing_delays

    start = datetime(2021, 8, 15, 10, tzinfo=UTC)
    feed = [Dispatch(id=str(i), language="fr", body="x", published_at=start + timedelta(
        seconds=offset)) for i, offset in enumerate((0, 60, 30, 90))]
    assert pacing_delays(feed, rate=4, speed=None) == [0.0, 0.25, 0.25, 0.25]
    # 60 s apart at 10x is 6 s; time going backwards does not wait
    assert pacing_delays(feed, rate=None, speed=10) == [0.0, 6.0, 0.0, 6.0]
    assert pacing_delays(feed, rate=None, speed=None) == [0.0] * 4
