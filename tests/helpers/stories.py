"""A story as an agency sends it: flash, urgent, full dispatch, correction, kill.

The shared samples hold no multi-version story and no kill notice, so this builds one from a
real NewsML-G2 document (IPTC's LISTING_2 text item), changing what the specification says
changes between versions: `version`, `urgency`, `signal` (sig:correction) and `pubStatus`
(stat:canceled), with the seed dispatch's French text as the body (the sample's is lorem
ipsum in English, which no pipeline analyses).

What each version is about (the premise the tests check first, on the enriched dispatches):
the flash and the urgent are about the withdrawal only; the full dispatch adds the
Russia-Ukraine conflict and the Iran nuclear deal (its ninth paragraph); the correction
strikes the Iran deal from that paragraph; the kill carries no text (it stands for its
headline, still about the withdrawal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from seeds import SEED_FEED
from streams.feeds.reader import read_feed
from tests.helpers import SHARED

G2_TEXT_ITEM = (SHARED / "samples" / "agency-formats" / "newsml-g2"
                / "iptc_LISTING_2_NewsML-G2_Text_Document.xml")
W, R, IRAN = "withdrawal", "russia-ukraine", "iran-deal"
STRUCK = " et sur l'accord nucléaire avec l'Iran"


@dataclass(frozen=True)
class Version:
    version: int
    name: str
    story_id: str
    document: bytes
    topics: frozenset[str]  # the watched topics its text is about


def _seed_paragraphs() -> list[str]:
    [item] = list(read_feed([SEED_FEED]))
    assert item.dispatch is not None
    return item.dispatch.body.split("\n\n")


def _g2(story_id: str, version: int, *, headline: str, paragraphs: list[str] | None,
        urgency: int, signal: str | None = None, status: str = "usable") -> bytes:
    text = G2_TEXT_ITEM.read_text("utf-8")

    def edit(pattern: str, new: str) -> None:
        nonlocal text
        text, count = re.subn(pattern, lambda _: new, text, count=1, flags=re.S)
        assert count == 1, pattern

    edit(r'guid="[^"]*"', f'guid="{escape(story_id)}"')
    edit(r'version="11"', f'version="{version}"')
    edit(r'xml:lang="en-US"', 'xml:lang="fr"')
    edit(r'<language tag="en-US" />',
         f'<language tag="fr" />\n        <urgency>{urgency}</urgency>')
    edit(r'<pubStatus qcode="stat:usable" />',
         f'<pubStatus qcode="stat:{status}" />'
         + (f'\n        <signal qcode="sig:{signal}" />' if signal else ""))
    edit(r"<headline>.*?</headline>", f"<headline>{escape(headline)}</headline>")
    if paragraphs is None:  # a kill notice: no content at all
        edit(r"<contentSet>.*?</contentSet>", "")
    else:
        edit(r"<hl1>.*?</hl1>", f"<hl1>{escape(headline)}</hl1>")
        edit(r"<body.content>.*?</body.content>",
             "<body.content>" + "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
             + "</body.content>")
    return text.encode("utf-8")


def flash_to_kill(story_id: str) -> list[Version]:
    """The five versions of one story, in the order the agency sends them."""
    paragraphs = _seed_paragraphs()
    corrected = [p.replace(STRUCK, "") for p in paragraphs]
    assert corrected != paragraphs, "the seed no longer mentions the Iran deal"
    headline = "Afghanistan: Blinken annonce aux alliés un retrait coordonné des troupes"
    kill = f"ANNULÉ - {headline}"

    def version(number: int, name: str, paragraphs: list[str] | None, topics: set[str],
                urgency: int, signal: str | None = None, status: str = "usable") -> Version:
        document = _g2(story_id, number, headline=kill if paragraphs is None else headline,
                       paragraphs=paragraphs, urgency=urgency, signal=signal, status=status)
        return Version(number, name, story_id, document, frozenset(topics))

    return [
        version(1, "flash", paragraphs[:1], {W}, urgency=1),
        version(2, "urgent", paragraphs[:3], {W}, urgency=2),
        version(3, "full", paragraphs, {W, R, IRAN}, urgency=4),
        version(4, "correction", corrected, {W, R}, urgency=4, signal="correction"),
        # Its only text is its headline, still about the withdrawal: a kill retracts all.
        version(5, "kill", None, {W}, urgency=4, status="canceled"),
    ]


# What subscribers get, per watched topic, for the versions in order: (version, revision,
# status). Written out by hand from the specification of the issue, not computed.
EXPECTED_IN_ORDER = {
    W: [(1, 1, "new"), (2, 2, "updated"), (3, 3, "updated"), (4, 4, "updated"),
        (5, 5, "retracted")],
    R: [(3, 1, "new"), (4, 2, "updated"), (5, 3, "retracted")],
    IRAN: [(3, 1, "new"), (4, 2, "retracted")],
}
