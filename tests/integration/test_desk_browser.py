"""The desk in a real browser (Debian's Chromium, driven by Playwright) on the real broker with
a real worker: cards with their evidence, filters, details, and no gap or duplicate across
a desk restart and a broker restart; a hostile dispatch shows as text and runs nothing; a
revised alert keeps one card, which follows its latest revision."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas import Alert, EnrichedDispatch
from streams.clients.kafka import read_records
from streams.devbroker import broker as localbroker
from streams.settings import Settings
from tests.helpers import ROOT, free_port
from tests.helpers.accounting import produce
from tests.helpers.deployment import (
    Deployment,
    WorkerProcess,
    deployment_for,
    private_broker,
    start_worker,
)
from tests.helpers.desk import alert_revision, health, start_desk, wait_for_health

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "desk.png"
T = TypeVar("T")
SEED_ID = "702952208b099811"


def dispatch(dispatch_id: str, headline: str, body: str, **fields: object) -> bytes:
    return json.dumps({"id": dispatch_id, "language": "fr", "agency": "AFP",
                       "headline": headline, "body": body, **fields},
                      ensure_ascii=False).encode()


IRAN = dispatch(
    "desk-iran-1", "Nucléaire iranien: reprise des négociations à Vienne",
    "Les négociations sur l'accord nucléaire iranien ont repris jeudi à Vienne. Téhéran exige "
    "la levée des sanctions américaines avant tout retour au respect de ses engagements sur "
    "l'enrichissement d'uranium, a déclaré le ministre iranien des Affaires étrangères, "
    "Mohammad Javad Zarif.\n\nL'AIEA a confirmé que l'Iran enrichissait de l'uranium à 60% "
    "sur le site de Natanz.", dateline={"city": "Vienne", "country": "Autriche"},
    published_at="2021-04-15T09:00:00Z")
WAR = dispatch(
    "desk-war-1", "Ukraine: Kharkiv bombardée dans la nuit",
    "Les forces russes ont bombardé Kharkiv dans la nuit, a annoncé l'armée ukrainienne. "
    "Moscou poursuit son offensive dans l'est de l'Ukraine, où les combats ont fait des "
    "dizaines de morts.\n\nLe président Volodymyr Zelensky a appelé les Occidentaux à livrer "
    "davantage d'armes.", dateline={"city": "Kiev", "country": "Ukraine"},
    published_at="2022-03-02T06:00:00Z")
MALI = dispatch(
    "desk-mali-1", "Les derniers soldats français ont quitté le Mali",
    "Les derniers militaires français de l'opération Barkhane ont quitté le Mali lundi, "
    "achevant le retrait des troupes françaises du pays, a annoncé l'état-major des armées."
    "\n\nLe retrait avait été décidé en février après la rupture avec la junte au pouvoir à "
    "Bamako.", dateline={"city": "Paris", "country": "France"},
    published_at="2022-08-15T12:00:00Z")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A broker of this module's own: the test restarts it."""
    with private_broker(tmp_path_factory.mktemp("desk-broker")) as settings:
        yield settings


@pytest.fixture(scope="module")
def stack(own_broker: Settings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Deployment, WorkerProcess]]:
    tmp = tmp_path_factory.mktemp("desk-stack")
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp,
                                WIREWATCH_BOOTSTRAP_SERVERS=own_broker.bootstrap_servers)
    worker = start_worker(deployment, tmp / "worker.log")
    yield deployment, worker
    worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR",
                                  timezone_id="Europe/Paris")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"the page raised: {errors}"


def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a helper that runs its own asyncio loop (produce, read_records) in a thread:
    Playwright's sync API keeps a loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def send(settings: Settings, records: list[tuple[bytes, bytes]], topic: str | None = None
         ) -> None:
    off_loop(produce, settings, records, topic)


# The character ranges of an element's text inside marks of class evidence, and entity.
MARKED_RANGES = """element => {
  const found = {text: element.textContent, evidence: [], entity: []};
  let position = 0;
  const walk = (node, classes) => {
    if (node.nodeType === Node.TEXT_NODE) {
      for (const kind of classes) found[kind].push([position, position + node.data.length]);
      position += node.data.length;
      return;
    }
    const inner = new Set(classes);
    for (const kind of ["evidence", "entity"]) {
      if (node.classList && node.classList.contains(kind)) inner.add(kind);
    }
    for (const child of node.childNodes) walk(child, inner);
  };
  walk(element, new Set());
  return found;
}"""


def covered(ranges: list[list[int]], start: int, end: int) -> bool:
    return all(any(a <= i < b for a, b in ranges) for i in range(start, end))


def cards(page: Page):
    return page.locator("#alerts article.card")


def visible_cards(page: Page):
    return page.locator("#alerts li:not([hidden]) article.card")


def alerts_of(deployment: Deployment) -> list[Alert]:
    settings = deployment.settings
    topics = [settings.alert_topic(t) for t in ("withdrawal", "russia-ukraine", "iran-deal")]
    records = off_loop(lambda: asyncio.run(read_records(settings, topics)))
    return [Alert.model_validate_json(r.value) for r in records]


def test_the_desk_shows_alerts_live_with_evidence_filters_details_and_survives_restarts(
        stack, own_broker, page: Page, tmp_path: Path):
    deployment, _ = stack
    port = free_port()
    desk = start_desk(deployment, tmp_path / "desk.log", port=port)
    try:
        page.goto(desk.url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

        # The seed, replayed: its three alert cards within 10 s, evidence at the right words.
        began = time.monotonic()
        assert deployment.run("replay").returncode == 0
        expect(cards(page)).to_have_count(3, timeout=10_000)
        assert time.monotonic() - began < 10
        for alert in alerts_of(deployment):
            card = page.locator(f'article.card[data-alert-id="{alert.alert_id}"]')
            expect(card.locator(".topic-name")).to_have_text(alert.topic)
            lead = alert.lead or ""
            in_lead = [e for e in alert.evidence if e.field == "body" and e.end <= len(lead)]
            assert all(lead[e.start:e.end] == e.text for e in in_lead)
            expected = [e.text for e in in_lead]
            assert expected or alert.salience == "body", alert.topic  # the lead's, marked
            marks = card.locator(".lead mark.evidence").all_text_contents()
            assert sorted(marks) == sorted(expected), alert.topic
        withdrawal = page.locator('article.card[data-topic="withdrawal"]')
        expect(withdrawal.locator(".lead mark.evidence").first).to_be_visible()
        expect(withdrawal.locator(".chip", has_text="Antony Blinken")).to_be_visible()

        send(deployment.settings, [(b"desk-iran-1", IRAN)])
        expect(cards(page)).to_have_count(4, timeout=10_000)

        # Filter by topic: the address follows, and a reload keeps the view.
        page.select_option("#filter-topic", "iran-deal")
        expect(visible_cards(page)).to_have_count(2)
        assert "topic=iran-deal" in page.url
        page.reload()
        expect(visible_cards(page)).to_have_count(2, timeout=10_000)
        page.select_option("#filter-topic", "")
        expect(visible_cards(page)).to_have_count(4)

        # Filter by entity: a chip of the seed leaves the seed's three cards.
        withdrawal.locator(".chip", has_text="Antony Blinken").click()
        expect(visible_cards(page)).to_have_count(3)
        expect(page.locator("#filter-entity")).to_contain_text("Antony Blinken")
        assert "entity=" in page.url
        page.click("#clear-entity")
        expect(visible_cards(page)).to_have_count(4)

        # Free text.
        page.fill("#filter-text", "natanz")
        expect(visible_cards(page)).to_have_count(1)
        page.fill("#filter-text", "")
        expect(visible_cards(page)).to_have_count(4)
        page.screenshot(path=str(SCREENSHOT))

        # Details: the whole dispatch, its entities and evidence, and why each topic matched.
        withdrawal.locator("button.details").click()
        details = page.locator("dialog#details")
        expect(details).to_be_visible()
        expect(details.locator(".body mark.entity", has_text="Blinken").first).to_be_visible()
        # Every piece of evidence is marked at its offsets (marks may be split where spans
        # overlap: what counts is the characters they cover).
        shown = details.locator(".body").evaluate(MARKED_RANGES)
        [seed] = [EnrichedDispatch.model_validate_json(r.value) for r in off_loop(
            lambda: asyncio.run(read_records(deployment.settings,
                                             [deployment.settings.topic_enriched])))
            if r.key == SEED_ID.encode()][:1]
        assert shown["text"] == seed.body
        for match in seed.topics:
            for evidence in (e for e in match.evidence if e.field == "body"):
                assert covered(shown["evidence"], evidence.start, evidence.end), evidence
        for entity in (e for e in seed.entities if e.field == "body"):
            assert covered(shown["entity"], entity.start, entity.end), entity
        for topic in ("withdrawal", "russia-ukraine", "iran-deal"):
            expect(details.locator(f'.topics section[data-topic="{topic}"]')).to_be_visible()
        page.keyboard.press("Escape")
        expect(details).to_be_hidden()

        # The desk restarts; what came meanwhile shows, nothing twice.
        desk.stop()
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "live",
                                                                  timeout=10_000)
        send(deployment.settings, [(b"desk-war-1", WAR)])
        time.sleep(2)  # processed by the worker while no desk runs
        desk = start_desk(deployment, tmp_path / "desk.log", port=port)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live",
                                                              timeout=15_000)
        expect(cards(page)).to_have_count(5, timeout=10_000)

        # The broker restarts under the desk and the worker.
        paths = localbroker.BrokerPaths.from_settings(own_broker)
        pid = localbroker.running_pid(paths)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(3)
        off_loop(localbroker.start, own_broker)
        send(deployment.settings, [(b"desk-mali-1", MALI)])
        expect(cards(page)).to_have_count(6, timeout=60_000)
        ids = page.locator("#alerts article.card").evaluate_all(
            "cards => cards.map(card => card.dataset.alertId)")
        assert len(ids) == len(set(ids)) == 6, "no duplicate"
        assert {a.alert_id for a in alerts_of(deployment)} == set(ids), "no gap"
        expect(page.locator("#count")).to_contain_text("6")

        # A redelivered alert (same alert_id, as after a worker crash) shows once.
        [redelivered] = [a for a in alerts_of(deployment) if a.dispatch_id == "desk-mali-1"]
        send(deployment.settings, [(b"desk-mali-1", redelivered.model_dump_json().encode())],
             topic=deployment.settings.alert_topic("withdrawal"))
        page.wait_for_timeout(2000)
        expect(cards(page)).to_have_count(6)

        # The keyboard alone: j moves to a card, Enter opens it, Escape closes and returns.
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("j")
        focused = page.evaluate("document.activeElement.dataset.alertId")
        assert focused in ids
        page.keyboard.press("Enter")
        expect(page.locator("dialog#details")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("dialog#details")).to_be_hidden()
        assert page.evaluate("document.activeElement.dataset.alertId") == focused
    finally:
        desk.stop()


HOSTILE_HEADLINE = '<script>window.pwned = "headline"</script>Ukraine: <b>Kiev</b> bombardée'
HOSTILE_BODY = (
    'Les forces russes ont bombardé Kiev <img src=x onerror="window.pwned=\'body\'"> dans la '
    'nuit, a annoncé l\'armée ukrainienne. <a href="javascript:window.pwned=\'link\'">Moscou'
    '</a> poursuit son offensive en Ukraine.\n\n<svg onload="window.pwned=\'svg\'"></svg>')


def test_a_hostile_dispatch_shows_as_text_and_runs_nothing(stack, page: Page, tmp_path: Path):
    deployment, _ = stack
    desk = start_desk(deployment, tmp_path / "desk.log")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    try:
        page.goto(desk.url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        hostile_id = f"hostile-{uuid.uuid4().hex[:6]}"
        send(deployment.settings, [(hostile_id.encode(), dispatch(
            hostile_id, HOSTILE_HEADLINE, HOSTILE_BODY))])
        # And an alert written straight to an alert topic, its entities forged too.
        forged = Alert.model_validate({
            "alert_id": str(uuid.uuid4()), "topic": "withdrawal", "score": 0.9,
            "evidence": [], "dispatch_id": "forged-1", "headline": "<img src=x onerror="
            "\"window.pwned='forged'\">forged", "lead": "<script>window.pwned=1</script>",
            "agency": "<i>AFP</i>", "entities": [
                {"name": "<img src=x onerror=\"window.pwned='entity'\">", "label": "PER",
                 "wikidata_id": "javascript:window.pwned='wikidata'", "mentions": 1,
                 "in_headline": True, "in_lead": True}],
            "alerted_at": "2022-03-02T06:00:00Z"})
        send(deployment.settings, [(b"forged-1", forged.model_dump_json().encode())],
                topic=deployment.settings.alert_topic("withdrawal"))

        card = page.locator(f'article.card[data-dispatch-id="{hostile_id}"]')
        expect(card).to_have_count(1, timeout=15_000)
        expect(card.locator(".headline")).to_have_text(HOSTILE_HEADLINE)
        forged_card = page.locator('article.card[data-dispatch-id="forged-1"]')
        expect(forged_card.locator(".headline")).to_contain_text("<img src=x onerror=")
        expect(forged_card.locator(".chip")).to_contain_text("<img src=x")
        card.locator("button.details").click()
        expect(page.locator("dialog#details .body")).to_contain_text('<img src=x onerror=')
        page.wait_for_timeout(500)

        assert page.evaluate("window.pwned") is None, "nothing ran"
        hosts = page.locator("#alerts, dialog#details")
        assert hosts.locator("img, script, svg, b, i").count() == 0, "no markup was made"
        hrefs = page.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
        assert all(h.startswith("https://www.wikidata.org/wiki/Q") for h in hrefs), hrefs
        assert not violations, "nothing even tried to run"
    finally:
        desk.stop()


def test_a_revised_alert_keeps_one_card_that_follows_its_latest_revision(
        deployment: Deployment, page: Page, tmp_path: Path):
    # Alerts written straight to an alert topic: no worker needed (nor the module's own broker).
    settings = deployment.settings
    topic = settings.alert_topic("withdrawal")
    story, neighbour = str(uuid.uuid4()), str(uuid.uuid4())
    port = free_port()
    desk = start_desk(deployment, tmp_path / "desk.log", port=port)
    card = page.locator(f'#alerts article.card[data-alert-id="{story}"]')
    dialog = page.locator("dialog#details")

    def publish(*records: tuple[bytes, bytes]) -> None:
        send(settings, list(records), topic=topic)

    def shows(revision: int, status: str, headline: str) -> None:
        # One card at every step: a second one would fail these (strict) locators.
        expect(card).to_have_attribute("data-revision", str(revision), timeout=15_000)
        expect(card).to_have_count(1)
        expect(card).to_have_attribute("data-status", status)
        expect(card.locator(".headline")).to_have_text(headline)

    try:
        page.goto(desk.url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        publish(alert_revision(story, 1, "new", "Retrait annoncé"))
        shows(1, "new", "Retrait annoncé")
        expect(card.locator(".revision-status")).to_have_count(0)
        publish(alert_revision(neighbour, 1, "new", "Une autre alerte"))
        expect(cards(page)).to_have_count(2, timeout=15_000)

        # Revision 2: the card is redrawn where it was (under the newer alert), not added.
        publish(alert_revision(story, 2, "updated", "Retrait confirmé par l'état-major"))
        shows(2, "updated", "Retrait confirmé par l'état-major")
        expect(card.locator(".revision-status")).to_have_text("updated · rev 2")
        expect(card).not_to_have_class(re.compile(r"\bretracted\b"))
        assert cards(page).evaluate_all("cards => cards.map(c => c.dataset.alertId)") == [
            neighbour, story]
        expect(page.locator("#count")).to_contain_text("2")

        # Revision 1 again (a redelivery): the desk counts it and shows nothing new.
        ignored = (health(desk.url) or {})["alerts_ignored"]
        publish(alert_revision(story, 1, "new", "Retrait annoncé"))
        wait_for_health(desk.url, lambda status: status["alerts_ignored"] > ignored)
        shows(2, "updated", "Retrait confirmé par l'état-major")
        expect(cards(page)).to_have_count(2)

        # Revision 3 retracts it, while its details are open: the card stays, marked, and
        # the details follow it.
        card.locator("button.details").click()
        expect(dialog.locator(".headline")).to_have_text("Retrait confirmé par l'état-major")
        publish(alert_revision(story, 3, "retracted", "Retrait démenti"))
        shows(3, "retracted", "Retrait démenti")
        expect(card).to_have_class(re.compile(r"\bretracted\b"))
        expect(card.locator(".revision-status")).to_have_text("retracted")
        assert card.locator(".headline").evaluate(
            "node => getComputedStyle(node).textDecorationLine") == "line-through"
        expect(dialog.locator(".headline")).to_have_text("Retrait démenti")
        expect(dialog.locator(".dialog-meta")).to_contain_text("retracted")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(cards(page)).to_have_count(2)

        # A reload replays what the desk holds: the latest revision only.
        page.reload()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(cards(page)).to_have_count(2, timeout=15_000)
        shows(3, "retracted", "Retrait démenti")

        # The desk restarts (a new epoch): the page gets everything again, reads its history
        # back from the topic (every revision), and still shows one card at revision 3. An
        # alert published after the restart shows that the replay has come through.
        desk.stop()
        desk = start_desk(deployment, tmp_path / "desk.log", port=port)
        later = str(uuid.uuid4())
        publish(alert_revision(later, 1, "new", "Encore une alerte"))
        expect(page.locator(f'article.card[data-alert-id="{later}"]')).to_have_count(
            1, timeout=20_000)
        expect(cards(page)).to_have_count(3)
        shows(3, "retracted", "Retrait démenti")
    finally:
        desk.stop()
