"""The watches topic from a client's side: read every watch in force, publish or remove one,
seed the topic with the shipped definitions when it is empty."""

from __future__ import annotations

from streams.clients.kafka import ensure_topics, read_records, start_producer
from streams.nlp.rules import RULES_DIR
from streams.nlp.watch_book import WatchBook
from streams.settings import Settings


async def read_watch_book(settings: Settings) -> WatchBook:
    """Every watch in force: the watches topic read from the beginning to its end."""
    await ensure_topics(settings, [settings.topic_watches])
    book = WatchBook()
    for record in await read_records(settings, [settings.topic_watches]):
        book.apply(record.key, record.value,
                   f"{record.topic}[{record.partition}]@{record.offset}")
    return book


async def write_watch(settings: Settings, name: str, raw: bytes | None) -> None:
    """Publish a watch's definition (None: remove it), and wait until it is written."""
    producer = await start_producer(settings)
    try:
        await (await producer.send(settings.topic_watches, raw, key=name.encode("utf-8")))
    finally:
        await producer.stop()


async def seed_watches(settings: Settings) -> list[str]:
    """Publish the shipped definitions when the watches topic holds none; the names
    published (none when the topic already holds watches: then it is the truth)."""
    if (await read_watch_book(settings)).watches:
        return []
    names = []
    for path in sorted(RULES_DIR.glob("*.yaml")):
        await write_watch(settings, path.stem, path.read_bytes())
        names.append(path.stem)
    return names
