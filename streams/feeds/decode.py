"""Decoding a raw input message into a Dispatch, or saying why it cannot be one: the reason
it is dead-lettered with."""

from __future__ import annotations

from pydantic import ValidationError

from schemas import Dispatch
from schemas.models import MAX_BODY_CHARS
from schemas.problems import describe

# Dead-letter reasons: a small fixed set, so that they can label metrics.
REASON_INVALID_UTF8 = "invalid_utf8"
REASON_INVALID_JSON = "invalid_json"
REASON_INVALID_DISPATCH = "invalid_dispatch"
REASON_TOO_LARGE = "too_large"
REASON_PROCESSING_ERROR = "processing_error"
DEAD_LETTER_REASONS = (
    REASON_INVALID_UTF8,
    REASON_INVALID_JSON,
    REASON_INVALID_DISPATCH,
    REASON_TOO_LARGE,
    REASON_PROCESSING_ERROR,
    # Agency documents on the raw topic (streams.feeds.agency.REASONS, too_large aside).
    "unsupported_format",
    "invalid_document",
    "unsafe_document",
    "no_text",
)
# The largest raw message that can hold a valid dispatch; a larger one is rejected before
# JSON parsing. Compact UTF-8 JSON of a dispatch fits (4 bytes per character at most, plus
# room for the other fields); one padded with whitespace or extra fields, or whose long
# non-Latin body is \u-escaped (6 to 12 bytes a character), may not, and is dead-lettered as
# too large. Not to be confused with the `max_message_bytes` setting, the largest message
# the topics carry: that one is larger on purpose, so that an oversized dispatch reaches the
# worker and is dead-lettered with its reason instead of being refused to its producer.
MAX_DISPATCH_BYTES = 4 * MAX_BODY_CHARS + 64 * 1024


class InvalidDispatch(ValueError):
    """A message that is not a valid dispatch, with a reason code and a readable message."""

    def __init__(self, reason: str, message: str, exception_class: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.exception_class = exception_class


def decode_dispatch(raw: bytes | None) -> Dispatch:
    """Validate a raw Kafka value as a `Dispatch`, or raise `InvalidDispatch` saying why."""
    if raw is None:
        raise InvalidDispatch(REASON_INVALID_JSON, "message has no value (tombstone)",
                              "ValueError")
    if len(raw) > MAX_DISPATCH_BYTES:
        raise InvalidDispatch(
            REASON_TOO_LARGE,
            f"message of {len(raw)} bytes exceeds the limit of {MAX_DISPATCH_BYTES} bytes",
            "ValueError",
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDispatch(REASON_INVALID_UTF8, f"value is not UTF-8: {exc}",
                              type(exc).__name__) from None
    try:
        return Dispatch.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            reason = REASON_INVALID_JSON
        elif any(error["type"] == "string_too_long" and error["loc"] == ("body",)
                 for error in errors):
            # Only the body makes a dispatch too large; an over-long id or headline is
            # simply not a valid dispatch.
            reason = REASON_TOO_LARGE
        else:
            reason = REASON_INVALID_DISPATCH
        raise InvalidDispatch(reason, describe(exc, limit=10), "ValidationError") from None
