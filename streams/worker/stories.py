"""One alert per story and watched topic, that follows the story's versions: what a new
version of a story changes in its alerts. Plain functions over a small state record (kept in
a store keyed by story id, streams.worker.changelog_store), testable without Kafka.

An agency sends a story as a flash, an urgent, the full dispatch, updates, corrections,
sometimes a kill. For each watched topic the story touches, subscribers get revision 1
(`new`), then `updated` revisions while later versions stay on the topic, and `retracted`
when a later version leaves it or the story is killed. A version older than the last one
seen changes nothing (agencies and connectors resend and reorder); the same version seen
again gives the same alerts again, with the same ids and revisions (a redelivery after a
crash between the state write and the commit loses nothing, and subscribers deduplicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas import Alert, AlertStatus, Dispatch, EnrichedDispatch, TopicMatch, alert_id_for
from schemas.models import MAX_LEAD_CHARS, utc_now
from streams.nlp.classify import lead_end

# An agency's kill (canceled) or hold (withheld): the story must not be used, so every
# alert it raised is retracted (a later usable version brings them back as updates).
UNUSABLE = frozenset({"canceled", "withheld"})


class TopicState(BaseModel):
    """Where a story's alert on one watched topic stands."""

    model_config = ConfigDict(frozen=True)

    revision: int = Field(ge=1)
    status: AlertStatus
    version: int = Field(ge=1, description="The story version that made this revision.")


class StoryState(BaseModel):
    """What the worker remembers of a story: the last version seen and its alerts."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    topics: dict[str, TopicState] = Field(default_factory=dict)
    seen_at: float | None = Field(
        default=None, description="When (epoch seconds) the last version was applied: a "
                                  "story quiet for the retention is forgotten.")


class AlertChange(BaseModel):
    """One alert to publish for a version: its id, revision and status."""

    model_config = ConfigDict(frozen=True)

    topic: str
    alert_id: str
    revision: int
    status: AlertStatus


def story_of(dispatch: Dispatch) -> str:
    """The story a dispatch is a version of: the agency's story id, else (plain JSON
    dispatches) the dispatch's own id. Its alert on a topic is `alert_id_for(story, topic)`,
    so a dispatch without a story keeps the alert ids it always had."""
    return dispatch.story_id or dispatch.id


def is_kill(dispatch: Dispatch) -> bool:
    return dispatch.pub_status in UNUSABLE


def encode_state(state: StoryState) -> bytes:
    return state.model_dump_json().encode("utf-8")


def decode_state(raw: bytes | None) -> StoryState | None:
    """A state read back from the store (None: the story is new)."""
    return None if raw is None else StoryState.model_validate_json(raw)


def is_quiet(raw: bytes, now: float, retention_seconds: float) -> bool:
    """True for a stored state whose story had no version for longer than the retention
    (a state written before states were stamped is never quiet)."""
    state = decode_state(raw)
    seen_at = state.seen_at if state is not None else None
    return seen_at is not None and now - seen_at > retention_seconds


def apply_version(state: StoryState | None, story_id: str, version: int,
                  on_topics: frozenset[str], killed: bool
                  ) -> tuple[StoryState | None, list[AlertChange]]:
    """The story's state after `version`, and the alerts to publish for it.

    `on_topics` are the watched topics the version belongs to; `killed` when the agency
    canceled or withheld it (every alert of the story is then retracted). Returns the state
    unchanged (None: no state yet) and no alert for a version older than the last seen.
    """
    if state is not None and version < state.version:
        return state, []
    if state is not None and version == state.version:
        # Seen already: the same alerts again (a redelivery), nothing new.
        return state, [AlertChange(topic=topic, alert_id=alert_id_for(story_id, topic),
                                   revision=held.revision, status=held.status)
                       for topic, held in sorted(state.topics.items())
                       if held.version == version]
    current = {} if state is None else dict(state.topics)
    wanted = frozenset() if killed else on_topics
    changes = []
    for topic in sorted(wanted | current.keys()):
        held = current.get(topic)
        live = held is not None and held.status != "retracted"
        if topic in wanted:
            status: AlertStatus = "updated" if held is not None else "new"
        elif live:
            status = "retracted"
        else:
            continue  # retracted before, and still off the topic: nothing to say
        revision = 1 if held is None else held.revision + 1
        current[topic] = TopicState(revision=revision, status=status, version=version)
        changes.append(AlertChange(topic=topic, alert_id=alert_id_for(story_id, topic),
                                   revision=revision, status=status))
    return StoryState(version=version, topics=current), changes


def lead_sentence(body: str, limit: int = 200) -> str:
    """The first sentence of the body, cut at `limit` characters: a headline stand-in."""
    paragraph = body.strip().split("\n", 1)[0]
    for end in (". ", "! ", "? "):
        cut = paragraph.find(end)
        if 0 < cut < limit:
            return paragraph[: cut + 1]
    return paragraph if len(paragraph) <= limit else paragraph[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class FollowedStory:
    """What one enriched dispatch does to its story: the alerts to publish, and the state to
    remember (None for a dispatch without a story id: it is its own and only version, so
    that state could never change what a redelivery gives)."""

    state: StoryState | None
    alerts: list[Alert]


def follow_story(state: StoryState | None, enriched: EnrichedDispatch,
                 top_entities_limit: int, now: float | None = None) -> FollowedStory:
    """The alerts an enriched dispatch gives, as a version of its story after `state`
    (`now`, epoch seconds: when the state was last touched, for its retention)."""
    story = story_of(enriched)
    matches = {match.topic: match for match in enriched.topics}
    after, changes = apply_version(state, story, enriched.version, frozenset(matches),
                                   is_kill(enriched))
    if after is not None and after is not state and now is not None:
        after = after.model_copy(update={"seen_at": now})
    alerted_at = utc_now()
    in_order = sorted(changes, key=lambda change: (change.topic not in matches,
                                                   enriched.topics.index(matches[change.topic])
                                                   if change.topic in matches else 0))
    alerts = [_alert(enriched, change, matches.get(change.topic), top_entities_limit,
                     alerted_at) for change in in_order]
    return FollowedStory(after if enriched.story_id is not None else None, alerts)


def _alert(enriched: EnrichedDispatch, change: AlertChange, match: TopicMatch | None,
           top_entities_limit: int, alerted_at: datetime) -> Alert:
    # A retraction shows the version that retracts it, with no score and no evidence.
    shown = match if change.status != "retracted" else None
    return Alert.model_validate({
        "alert_id": change.alert_id,
        "revision": change.revision,
        "status": change.status,
        "topic": change.topic,
        "watch_version": match.watch_version if match else None,
        "score": shown.score if shown else 0.0,
        "salience": shown.salience if shown else "body",
        "evidence": shown.evidence if shown else [],
        "dispatch_id": enriched.id,
        "story_id": enriched.story_id,
        "version": enriched.version,
        "urgency": enriched.urgency,
        "pub_status": enriched.pub_status,
        "headline": enriched.headline or lead_sentence(enriched.body),
        "lead": enriched.body[:min(lead_end(enriched.body), MAX_LEAD_CHARS)].rstrip() or None,
        "agency": enriched.agency,
        "dateline": enriched.dateline,
        "published_at": enriched.published_at,
        "entities": enriched.entity_summary[:top_entities_limit],
        "alerted_at": alerted_at,
    })
