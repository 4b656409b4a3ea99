"""Feeds of uniquely keyed dispatches for the fault-injection tests, and the key-by-key
account of what came out of the pipeline: lost, dead-lettered, duplicated."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from streams.clients.kafka import ensure_topics, read_records, start_producer
from streams.settings import Settings

# Sentences of wire copy, some on watched topics, most not: the feed exercises the NLP step
# and the alert fan-out the way a real day would.
SENTENCES = (
    "Le dernier contingent de soldats américains a quitté l'Afghanistan lundi soir.",
    "Les forces russes ont bombardé plusieurs quartiers de Kharkiv dans la nuit.",
    "Téhéran et les Occidentaux reprennent à Vienne les discussions sur l'accord nucléaire.",
    "Le Premier ministre a présenté mardi son plan de relance devant l'Assemblée nationale.",
    "La Banque centrale européenne a maintenu ses taux directeurs inchangés jeudi.",
    "Le festival de Cannes s'est ouvert sous un soleil radieux sur la Croisette.",
    "Volodymyr Zelensky a demandé à l'Otan davantage de défense antiaérienne.",
    "Paris a annoncé le retrait de ses troupes du Mali d'ici la fin de l'été.",
    "Les prix de l'énergie ont reculé pour le troisième mois consécutif en zone euro.",
    "L'Agence internationale de l'énergie atomique s'inquiète de l'enrichissement d'uranium.",
    "Une tempête a privé d'électricité des milliers de foyers en Bretagne.",
    "Le club lyonnais s'est imposé 2-1 face à Marseille au terme d'un match tendu.",
    "Des négociations sur un cessez-le-feu dans le Donbass ont échoué à Minsk.",
    "Le gouvernement allemand a adopté un budget en hausse pour la défense.",
)
CITIES = ("Paris", "Bruxelles", "Kiev", "Moscou", "Téhéran", "Kaboul", "Vienne", "Genève")


def dispatch_feed(run_id: str, count: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """`count` valid dispatches with unique ids `<run_id>-<n>`, as (key, value) records."""
    rng = random.Random(seed)
    records = []
    for number in range(count):
        dispatch_id = f"{run_id}-{number:05d}"
        body = " ".join(rng.sample(SENTENCES, rng.randint(2, 4)))
        value = {"id": dispatch_id, "language": "fr", "agency": "AFP",
                 "dateline": {"city": rng.choice(CITIES)}, "body": body,
                 "published_at": "2021-08-30T21:00:00Z"}
        records.append((dispatch_id.encode(), json.dumps(value, ensure_ascii=False).encode()))
    return records


def produce(settings: Settings, records: Iterable[tuple[bytes | None, bytes | None]],
            topic: str | None = None) -> list[tuple[int, int]]:
    """Produce records (in order) to the input topic, creating it with the worker's settings
    if needed; return each one's (partition, offset)."""

    async def _produce() -> list[tuple[int, int]]:
        await ensure_topics(settings, [topic or settings.topic_dispatches])
        producer = await start_producer(settings)
        try:
            sent = [await producer.send(topic or settings.topic_dispatches, value, key=key)
                    for key, value in records]
            metadata = await asyncio.gather(*sent)
        finally:
            await producer.stop()
        return [(m.partition, m.offset) for m in metadata]

    return asyncio.run(_produce())


class PacedFeed(threading.Thread):
    """Produces records at `rate` per second in the background, as a live wire would, so
    that faults land while dispatches are still arriving. `join()` re-raises its error."""

    def __init__(self, settings: Settings, records: list[tuple[bytes, bytes]], rate: float):
        super().__init__(daemon=True)
        self.settings, self.records, self.rate = settings, records, rate
        self.error: BaseException | None = None

    def run(self) -> None:
        async def _produce() -> None:
            await ensure_topics(self.settings, [self.settings.topic_dispatches])
            producer = await start_producer(self.settings)
            began = time.monotonic()
            try:
                for number, (key, value) in enumerate(self.records):
                    await asyncio.sleep(max(0.0, began + number / self.rate - time.monotonic()))
                    await producer.send(self.settings.topic_dispatches, value, key=key)
                await producer.flush()
            finally:
                await producer.stop()

        try:
            asyncio.run(_produce())
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def read_to_end(settings: Settings, topics: list[str], timeout: float = 60
                ) -> list[ConsumerRecord]:
    """Every record of `topics` from the beginning up to their end offsets at call time."""
    return asyncio.run(read_records(settings, topics, timeout=timeout))


@dataclass
class Account:
    """What became of each input key: enriched (how many times), dead-lettered, or lost."""

    case: str
    dispatches: int
    enriched: Counter[bytes] = field(default_factory=Counter)
    dead_lettered: Counter[bytes] = field(default_factory=Counter)
    expected_enriched: frozenset[bytes] = frozenset()
    expected_dead: frozenset[bytes] = frozenset()

    @property
    def lost(self) -> set[bytes]:
        return (set(self.expected_enriched) - set(self.enriched)) | (
            set(self.expected_dead) - set(self.dead_lettered))

    @property
    def misrouted(self) -> set[bytes]:
        """Good dispatches dead-lettered, or bad ones enriched."""
        return (set(self.dead_lettered) & self.expected_enriched) | (
            set(self.enriched) & self.expected_dead)

    @property
    def duplicated(self) -> int:
        """Extra copies beyond the first, over both output topics."""
        return sum(n - 1 for n in self.enriched.values()) + sum(
            n - 1 for n in self.dead_lettered.values())

    def summary(self) -> dict[str, object]:
        return {"case": self.case, "dispatches": self.dispatches, "lost": len(self.lost),
                "misrouted": len(self.misrouted), "duplicated": self.duplicated}


def account(settings: Settings, case: str, good: Iterable[bytes], bad: Iterable[bytes] = (),
            timeout: float = 180, progress: Callable[[], None] | None = None) -> Account:
    """Wait until every good key is enriched and every bad key dead-lettered (or `timeout`),
    then count, key by key, what the output topics hold."""
    result = Account(case, 0, expected_enriched=frozenset(good), expected_dead=frozenset(bad))
    result.dispatches = len(result.expected_enriched) + len(result.expected_dead)
    deadline = time.monotonic() + timeout
    while True:
        result.enriched = Counter(r.key for r in read_to_end(settings, [settings.topic_enriched]))
        result.dead_lettered = Counter(
            r.key for r in read_to_end(settings, [settings.topic_dead_letter]))
        if not result.lost or time.monotonic() > deadline:
            return result
        if progress is not None:
            progress()
        time.sleep(1.0)


def record_result(result: Account, extra: dict[str, object], path: Path) -> None:
    """Append the case's numbers to the fault matrix file RELIABILITY.md is written from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({**result.summary(), **extra,
                              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
