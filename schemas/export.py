"""Export the JSON Schema of every message model to `schemas/<Model>.schema.json`.

Each file is a Draft 2020-12 schema whose `$id` is `https://wirewatch.dev/schemas/` followed
by its file name (`https://wirewatch.dev/schemas/Dispatch.schema.json`): a stable name for
registries and `$ref`s, not an address to fetch. It stays the same while messages evolve the
compatible way (new optional fields, which readers ignore).

Run `python -m schemas.export` after changing a model; a test fails while the files are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.models import (
    Alert,
    Dispatch,
    EnrichedDispatch,
    Entity,
    SurgeAlert,
    TopicMatch,
)

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_ID_BASE = "https://wirewatch.dev/schemas/"
EXPORTED_MODELS: tuple[type[BaseModel], ...] = (
    Dispatch,
    Entity,
    TopicMatch,
    EnrichedDispatch,
    Alert,
    SurgeAlert,
)


def schema_path(model: type[BaseModel], directory: Path = SCHEMA_DIR) -> Path:
    return directory / schema_file_name(model)


def schema_file_name(model: type[BaseModel]) -> str:
    return f"{model.__name__}.schema.json"


def schema_id(model: type[BaseModel]) -> str:
    """The `$id` of a model's schema: its file name under `SCHEMA_ID_BASE`."""
    return SCHEMA_ID_BASE + schema_file_name(model)


def render_schema(model: type[BaseModel]) -> str:
    """The JSON Schema of a model, as written to its file (stable key order)."""
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = schema_id(model)
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for model in EXPORTED_MODELS:
        path = schema_path(model, directory)
        path.write_text(render_schema(model), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export():
        sys.stdout.write(f"wrote {path}\n")
