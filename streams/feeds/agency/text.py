"""Plain text out of the bodies agencies send: XHTML and NITF element trees, HTML strings
and text, as paragraphs joined by a blank line."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from xml.etree.ElementTree import Element

from streams.feeds.agency.common import TOO_LARGE, AgencyDocumentError, collapse
from streams.feeds.agency.xmlsafe import local_name

# Elements whose start and end break a paragraph: HTML's blocks and NITF's (hl1, hl2, bq,
# block, ...). Table rows are paragraphs; their cells are separated by a space.
BLOCK_ELEMENTS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd",
    "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "hgroup", "hr", "html", "legend", "li", "main", "menu", "ol", "p",
    "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    # NITF
    "block", "body.content", "bq", "byline", "credit", "dateline", "fn", "hedline", "hl1",
    "hl2", "note", "tagline",
})
CELL_ELEMENTS = frozenset({"td", "th"})
# Elements whose whole content is not the story's text: scripts and styles, the document
# head, page furniture (HTML5 `header`: dpa's holds the date, keyword list, headline and
# byline again), and pictures with their captions (HTML `figure`, NITF `media`).
SKIPPED_ELEMENTS = frozenset({
    "audio", "button", "canvas", "embed", "figure", "footer", "head", "header", "iframe",
    "map", "math", "media", "nav", "noscript", "object", "script", "select", "style", "svg",
    "template", "textarea", "title", "video",
})
# HTML elements that have no end tag.
VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})

# An HTML body this long (markup included) is far beyond any dispatch the model takes
# (MAX_BODY_CHARS of text) and is refused before the HTML parser sees it.
MAX_HTML_CHARS = 1_000_000

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")


class Paragraphs:
    """Text gathered run by run; a block boundary ends the paragraph being written."""

    def __init__(self) -> None:
        self._done: list[str] = []
        self._runs: list[str] = []

    def text(self, run: str) -> None:
        self._runs.append(run)

    def space(self) -> None:
        self._runs.append(" ")

    def end_paragraph(self) -> None:
        if self._runs:
            paragraph = collapse("".join(self._runs))
            self._runs = []
            if paragraph:
                self._done.append(paragraph)

    def result(self) -> str:
        self.end_paragraph()
        return "\n\n".join(self._done)


def element_text(root: Element) -> str:
    """The paragraphs of an XHTML or NITF element: its own tail is not its text. Walked
    without recursion (the parser bounds the depth, this does not rely on it)."""
    out = Paragraphs()
    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        element, closing = stack.pop()
        name = local_name(element.tag).lower()
        if closing:
            if name in BLOCK_ELEMENTS:
                out.end_paragraph()
            elif name in CELL_ELEMENTS:
                out.space()
        elif name in SKIPPED_ELEMENTS:
            pass
        elif name == "br":
            out.end_paragraph()
        else:
            if name in BLOCK_ELEMENTS:
                out.end_paragraph()
            elif name in CELL_ELEMENTS:
                out.space()
            if element.text:
                out.text(element.text)
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))
            continue
        if element is not root and element.tail:
            out.text(element.tail)
    return out.result()


def plain_text(text: str) -> str:
    """Paragraphs of a text body: split on blank lines, whitespace collapsed within."""
    return "\n\n".join(paragraph for paragraph in map(collapse, _BLANK_LINES.split(text))
                       if paragraph)


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Paragraphs()
        self._skipping: str | None = None  # the skipped element we are in
        self._skip_depth = 0  # how many of its kind are open inside it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping is not None:
            if tag == self._skipping:
                self._skip_depth += 1
        elif tag in SKIPPED_ELEMENTS and tag not in VOID_ELEMENTS:
            self._skipping, self._skip_depth = tag, 1
        elif tag == "br" or tag in BLOCK_ELEMENTS:
            self.out.end_paragraph()
        elif tag in CELL_ELEMENTS:
            self.out.space()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping is None and (tag == "br" or tag in BLOCK_ELEMENTS):
            self.out.end_paragraph()

    def handle_endtag(self, tag: str) -> None:
        if self._skipping is not None:
            if tag == self._skipping:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skipping = None
        elif tag in BLOCK_ELEMENTS:
            self.out.end_paragraph()
        elif tag in CELL_ELEMENTS:
            self.out.space()

    def handle_data(self, data: str) -> None:
        if self._skipping is None:
            self.out.text(data)


# Markup that HTMLParser would search to the end of the input for a terminator that is not
# there, again at each occurrence (quadratic: "<!--" repeated 250,000 times takes minutes).
# Comments, declarations, processing instructions and CDATA are not text: they go first,
# each one consumed to its end or to the end of the input.
_NOT_TEXT = re.compile(r"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<[!?][^>]*(?:>|\Z)",
                       re.DOTALL)


def html_text(html: str) -> str:
    """The paragraphs of an HTML (or XHTML) string, read by the standard library's HTML
    parser, which expands no entity and fetches nothing; bounded in size and work."""
    if len(html) > MAX_HTML_CHARS:
        raise AgencyDocumentError(TOO_LARGE, f"HTML body of {len(html)} characters exceeds "
                                             f"the limit of {MAX_HTML_CHARS}")
    html = _NOT_TEXT.sub(" ", html)
    # A "<" with no ">" after it is text; HTMLParser would take it for an unfinished tag and
    # search the rest of the input for its end, once per "<".
    last_close = html.rfind(">")
    if html.find("<", last_close + 1) >= 0:
        html = html[: last_close + 1] + html[last_close + 1:].replace("<", "&lt;")
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.out.result()
