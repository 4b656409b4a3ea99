"""The README says what runs: its generated blocks are current, every setting and every
command option is documented."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest

from streams.settings import Settings
from tests.helpers import ROOT

README_TEXT = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme", ROOT / "scripts" / "readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme = _readme_script()


def test_the_readme_has_both_generated_blocks():
    assert set(readme.blocks(README_TEXT)) == {"settings", "alert-example"}


def test_the_settings_table_is_current_and_lists_every_setting():
    table = readme.blocks(README_TEXT)["settings"]
    assert table == readme.settings_table(), "stale: run `make readme`"
    documented = re.findall(r"^\| `(WIREWATCH_[A-Z_]+)` \|", table, re.MULTILINE)
    assert documented == [f"WIREWATCH_{name.upper()}" for name in Settings.model_fields]
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 15, name
    for named in ("WIREWATCH_TOPIC_REPLICATION_FACTOR", "WIREWATCH_TOP_ENTITIES_IN_ALERT",
                  "WIREWATCH_BROKER_HOST", "WIREWATCH_BROKER_START_TIMEOUT",
                  "WIREWATCH_CREATE_TOPICS", "WIREWATCH_STOP_TIMEOUT"):
        assert f"`{named}`" in table


def test_the_example_alerts_are_what_subscribe_prints_for_the_seed(enricher):
    example = readme.blocks(README_TEXT)["alert-example"]
    assert example == readme.alert_example(), "stale: run `make readme`"
    assert example.count("\n  why: ") == 3


def _commands() -> dict:
    from faust.cli.faust import cli

    import streams.cli  # noqa: F401  (registers the commands)

    return {name: cli.commands[name] for name in
            ("broker", "replay", "subscribe", "enrich", "eval", "eval-entities", "desk",
             "watch")}


@pytest.mark.parametrize("name", ["broker", "replay", "subscribe", "desk", "enrich", "eval",
                                  "eval-entities", "watch"])
def test_every_option_of_a_command_is_in_its_readme_row(name):
    [row] = [line for line in README_TEXT.splitlines()
             if line.startswith((f"| `wirewatch {name} ", f"| `wirewatch {name}` |"))]
    options = [opt for param in _commands()[name].params for opt in param.opts
               if opt.startswith("--")]
    missing = [opt for opt in options if opt not in row]
    assert not missing, f"wirewatch {name}: {missing} not in the README"
