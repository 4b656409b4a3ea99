"""The desk in a real browser (Debian's Chromium, driven by Playwright) on the real broker: a
card for the alert of a watch added while the page is open, and a surge alert's card."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas import Alert, SurgeAlert, SurgeHeadline, surge_alert_id
from tests.helpers.accounting import produce
from tests.helpers.deployment import Deployment
from tests.helpers.desk import DeskProcess, start_desk

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def desk(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[DeskProcess]:
    process = start_desk(deployment, tmp_path_factory.mktemp("desk") / "desk.log")
    yield process
    assert process.stop() == 0, process.log_text()[-3000:]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      locale="en-GB", timezone_id="UTC")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert not errors, f"the page raised: {errors}"


def send(deployment: Deployment, key: str, value: bytes, topic: str) -> None:
    """Produce off Playwright's loop (the helper runs one of its own)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(produce, deployment.settings, [(key.encode(), value)], topic).result()


def test_a_watch_added_while_the_page_is_open_and_a_surge_get_their_cards(
        desk: DeskProcess, deployment: Deployment, page: Page, tmp_path: Path):
    page.goto(desk.url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    name = f"otan-{uuid.uuid4().hex[:6]}"
    watch_file = tmp_path / f"{name}.yaml"
    watch_file.write_text(f'watch: {name}\nkind: entity\nversion: "1"\n'
                          "entities: [Q7184]\nsalience: lead\n", encoding="utf-8")
    added = deployment.run("watch", "add", str(watch_file))
    assert added.returncode == 0, added.stderr.decode()
    alert = Alert(alert_id=str(uuid.uuid4()), topic=name, score=0.8, evidence=[],
                  dispatch_id="page-otan-1", headline="L'OTAN renforce son flanc est",
                  entities=[], alerted_at=datetime(2026, 3, 2, tzinfo=UTC))
    send(deployment, alert.alert_id, alert.model_dump_json().encode(),
         deployment.settings.alert_topic(name))
    card = page.locator(f'article.card[data-alert-id="{alert.alert_id}"]')
    expect(card.locator(".topic-name")).to_have_text(name, timeout=10_000)
    expect(card.locator(".headline")).to_have_text("L'OTAN renforce son flanc est")
    expect(page.locator(f'#filter-topic option[value="{name}"]')).to_have_count(1)

    end = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    surge = SurgeAlert(
        alert_id=surge_alert_id(f"page-{uuid.uuid4().hex[:6]}", end), kind="entity",
        key="Q7184", name="OTAN", count=23, baseline_mean=9.84, baseline_spread=3.07,
        z_score=4.21, window_start=end - timedelta(hours=1), window_end=end, alerted_at=end,
        top_headlines=[SurgeHeadline(story_id=f"s{n}", dispatch_id=f"d{n}", score=1.0,
                                     headline=f"L'OTAN, titre {n}", published_at=end)
                       for n in range(1, 8)])
    send(deployment, surge.alert_id, surge.model_dump_json().encode(),
         deployment.settings.surge_alert_topic)
    surge_card = page.locator(f'article.surge-card[data-alert-id="{surge.alert_id}"]')
    expect(surge_card.locator(".topic-name")).to_have_text("surge", timeout=10_000)
    expect(surge_card.locator(".headline")).to_have_text("OTAN: 23 stories in the hour to 14:05")
    expect(surge_card.locator(".z-score")).to_have_text("z 4.2")
    expect(surge_card.locator(".meta")).to_have_text("usually 9.8 ± 3.1")
    expect(surge_card.locator(".surge-headlines li")).to_have_text(
        [f"L'OTAN, titre {n}" for n in range(1, 6)])

    # The entity chip of an entity's surge filters by it, as any card's does.
    surge_card.locator(".chip", has_text="OTAN").click()
    expect(page.locator("#alerts li:not([hidden]) article.card")).to_have_count(1)
    assert "entity=Q7184" in page.url
