"""Message schemas of wirewatch: pydantic models and their exported JSON Schema files."""

from schemas.models import (
    Alert,
    AlertStatus,
    Dateline,
    Dispatch,
    EnrichedDispatch,
    Entity,
    EntitySummary,
    Evidence,
    SurgeAlert,
    SurgeHeadline,
    SurgeKind,
    TopicMatch,
    alert_id_for,
    surge_alert_id,
)

__all__ = [
    "Alert",
    "AlertStatus",
    "Dateline",
    "Dispatch",
    "EnrichedDispatch",
    "Entity",
    "EntitySummary",
    "Evidence",
    "SurgeAlert",
    "SurgeHeadline",
    "SurgeKind",
    "TopicMatch",
    "alert_id_for",
    "surge_alert_id",
]
