"""A story's alerts across its versions: new, updated, retracted; old and repeated versions."""

from __future__ import annotations

import random

from schemas import alert_id_for
from streams.feeds.agency import parse_agency_document
from streams.worker.stories import (
    StoryState,
    apply_version,
    encode_state,
    follow_story,
    is_quiet,
)
from tests.helpers.stories import EXPECTED_IN_ORDER, STRUCK, R, W, flash_to_kill

STORY = "urn:newsml:afp.com:20210516:TX-PAR-WGF71"


def run(versions: list[tuple[int, set[str], bool]]) -> tuple[StoryState | None, list]:
    state: StoryState | None = None
    published = []
    for version, topics, killed in versions:
        state, changes = apply_version(state, STORY, version, frozenset(topics), killed)
        published += [(version, c.topic, c.revision, c.status) for c in changes]
    return state, published


FLASH_TO_KILL = [(1, {W}, False), (2, {W}, False), (3, {W, R}, False), (4, {W}, False),
                 (5, set(), True)]


def test_flash_urgent_full_correction_kill():
    state, published = run(FLASH_TO_KILL)
    assert published == [
        (1, W, 1, "new"),
        (2, W, 2, "updated"),
        (3, R, 1, "new"), (3, W, 3, "updated"),
        (4, R, 2, "retracted"), (4, W, 4, "updated"),
        (5, W, 5, "retracted"),
    ]
    assert state is not None and state.version == 5
    assert {t: s.status for t, s in state.topics.items()} == {W: "retracted", R: "retracted"}


def test_one_alert_id_per_story_and_topic():
    assert alert_id_for(STORY, W) == alert_id_for(STORY, W)
    assert len({alert_id_for(STORY, W), alert_id_for(STORY, R),
                alert_id_for(STORY + "x", W)}) == 3


def test_an_older_version_changes_nothing_and_a_repeated_one_repeats_itself():
    state, _ = run(FLASH_TO_KILL[:3])
    assert apply_version(state, STORY, 2, frozenset({W}), False) == (state, [])
    again, changes = apply_version(state, STORY, 3, frozenset({W, R}), False)
    assert again == state
    assert [(c.topic, c.revision, c.status) for c in changes] == [(R, 1, "new"),
                                                                  (W, 3, "updated")]


def live(state: StoryState | None) -> dict[str, int]:
    """What a subscriber of the compacted alert topics ends up with: the alerts not
    retracted, and the version they show."""
    if state is None:
        return {}
    return {t: s.version for t, s in state.topics.items() if s.status != "retracted"}


def test_shuffled_and_repeated_versions_end_in_the_same_final_state():
    rng = random.Random(7)
    for sequence, expected in ((FLASH_TO_KILL, {}), (FLASH_TO_KILL[:4], {W: 4})):
        assert live(run(sequence)[0]) == expected
        for _ in range(200):
            versions = sequence + rng.sample(sequence, k=rng.randint(0, len(sequence)))
            rng.shuffle(versions)
            state, published = run(versions)
            assert live(state) == expected, versions
            # Whatever the order, each (topic, revision) is published with one status only.
            statuses: dict[tuple[str, int], str] = {}
            for _, topic, revision, status in published:
                assert statuses.setdefault((topic, revision), status) == status


def test_a_replay_of_every_prefix_gives_the_alerts_of_the_last_version_again():
    # A crash after the state write and before the commit: the version comes again.
    for cut in range(1, len(FLASH_TO_KILL) + 1):
        state, published = run(FLASH_TO_KILL[:cut])
        version, topics, killed = FLASH_TO_KILL[cut - 1]
        _, again = apply_version(state, STORY, version, frozenset(topics), killed)
        last = [(t, r, s) for v, t, r, s in published if v == version]
        assert [(c.topic, c.revision, c.status) for c in again] == last


def test_a_story_back_on_a_topic_after_a_retraction_is_updated_again():
    _, published = run([(1, {W}, False), (2, set(), False), (3, {W}, False)])
    assert published == [(1, W, 1, "new"), (2, W, 2, "retracted"), (3, W, 3, "updated")]


# --- The real path without Kafka: agency documents -> dispatches -> enriched -> alerts ------


def _follow(versions, enricher, state=None):
    """Each version parsed, enriched and followed in turn: the alerts published, the state."""
    published = []
    for version in versions:
        [dispatch], _ = parse_agency_document(version.document)
        enriched = enricher.enrich(dispatch)
        followed = follow_story(state, enriched, top_entities_limit=5)
        state = followed.state
        published += followed.alerts
    return state, published


def test_a_story_from_flash_to_kill_gives_one_alert_per_topic_that_follows_it(enricher):
    versions = flash_to_kill("urn:newsml:afp.com:20210414:KABUL-RETRAIT")
    for version in versions:  # the premise: what each version is about
        [dispatch], _ = parse_agency_document(version.document)
        assert {m.topic for m in enricher.enrich(dispatch).topics} == version.topics, \
            version.name
    _, alerts = _follow(versions, enricher)
    by_topic: dict[str, list] = {}
    for alert in alerts:
        by_topic.setdefault(alert.topic, []).append(alert)
    assert {topic: [(a.version, a.revision, a.status) for a in got]
            for topic, got in by_topic.items()} == EXPECTED_IN_ORDER
    for topic, got in by_topic.items():
        assert {a.alert_id for a in got} == {alert_id_for(versions[0].story_id, topic)}
        assert {a.story_id for a in got} == {versions[0].story_id}
        for alert in got:
            if alert.status == "retracted":
                assert (alert.score, alert.evidence) == (0.0, [])
            else:
                assert alert.score > 0.3 and alert.evidence
    [kill] = [a for a in by_topic[W] if a.status == "retracted"]
    assert kill.headline and kill.headline.startswith("ANNULÉ")
    assert [a.urgency for a in by_topic[W]] == [1, 2, 4, 4, 4]
    # The correction's Russia-Ukraine revision shows the corrected text.
    [corrected] = [a for a in by_topic[R] if a.version == 4]
    assert corrected.status == "updated" and STRUCK.strip() not in (corrected.lead or "")


def test_a_plain_json_dispatch_remembers_nothing(enricher, seed_dispatch):
    followed = follow_story(None, enricher.enrich(seed_dispatch), top_entities_limit=5)
    assert followed.state is None
    assert [(a.revision, a.status) for a in followed.alerts] == [(1, "new")] * 3


def test_a_new_version_stamps_the_state_and_a_quiet_story_is_forgotten(enricher):
    versions = flash_to_kill("urn:newsml:afp.com:20210414:QUIET")
    [first], _ = parse_agency_document(versions[0].document)
    [second], _ = parse_agency_document(versions[1].document)
    state = follow_story(None, enricher.enrich(first), 5, now=1000.0).state
    assert state is not None and state.seen_at == 1000.0
    later = follow_story(state, enricher.enrich(second), 5, now=2000.0).state
    assert later is not None and later.seen_at == 2000.0
    # An older version changes nothing, its time included.
    assert follow_story(later, enricher.enrich(first), 5, now=3000.0).state == later
    day = 86_400.0
    assert not is_quiet(encode_state(later), 2000.0 + 30 * day, 30 * day)
    assert is_quiet(encode_state(later), 2001.0 + 30 * day, 30 * day)
    unstamped = later.model_copy(update={"seen_at": None})
    assert not is_quiet(encode_state(unstamped), 1e12, 30 * day)
