"""Input fields with the strictness the contract asks for: zone-aware times, no unknown fields."""
import re
from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from core.errors import ValidationFailed, field_error


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a zone (`2026-11-28T12:00:00Z`); a time without one is refused rather than guessed."""

    default_error_messages = {
        "naive": "Give a time with a zone, e.g. 2026-11-28T12:00:00Z.",
        "out-of-range": "This time is out of range.",
        "plus-not-encoded": ("{value!r} looks like a time whose '+' was not URL-encoded: in a query string '+' "
                             "means a space. Write the zone as %2B09:00 (e.g. as_of=2026-11-28T21:00:00%2B09:00), "
                             "or give the time in UTC with Z."),
    }
    # What `...T21:00:00+09:00` becomes when the `+` of a query string is decoded as a space.
    _PLUS_DECODED_AS_SPACE = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d:.]+ \d{2}(:?\d{2})?$")

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well-formed but impossible, e.g. month 13
                parsed = None
            if parsed is None and self._PLUS_DECODED_AS_SPACE.match(value.strip()):
                self.fail("plus-not-encoded", value=value)
            if parsed is None:
                self.fail("invalid", format="ISO 8601 with a zone, e.g. 2026-11-28T12:00:00Z")
            if timezone.is_naive(parsed):
                self.fail("naive")
            try:
                return parsed.astimezone(UTC)
            except OverflowError:
                self.fail("out-of-range")
        self.fail("invalid", format="ISO 8601 with a zone")


def refuse_future_as_of(as_of) -> None:
    """api.md, "Evidence": a receipt vouches only for the past and present, so an `as_of` later than the request's
    own time is a 400 `as-of-in-future`, with or without a receipt (an answer about the future could change)."""
    if as_of is not None and as_of > timezone.now():
        raise ValidationFailed(
            "as_of is later than now: answers (and receipts) are given only for the past and the present.",
            errors=[field_error("as_of", "as-of-in-future",
                                f"{as_of.isoformat().replace('+00:00', 'Z')} has not happened yet; omit as_of "
                                "for now, or give a past time.")],
            code="as-of-in-future")


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo must not be silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("Unknown field.", code="unknown-field")] for name in unknown}
                )
        return super().to_internal_value(data)


def query_params(serializer_class, request, *, allowed_extra=()):
    """Validate the query string with `serializer_class`, refusing parameters it does not declare."""
    fields = serializer_class._declared_fields  # the class's own field names: no instance (and no deepcopy) needed
    unknown = sorted(set(request.query_params) - set(fields) - set(allowed_extra))
    if unknown:
        raise serializers.ValidationError(
            {name: [serializers.ErrorDetail("Unknown query parameter.", code="unknown-parameter")]
             for name in unknown}
        )
    repeated = sorted(k for k in request.query_params if len(request.query_params.getlist(k)) > 1)
    if repeated:
        raise serializers.ValidationError(
            {name: [serializers.ErrorDetail("Give this parameter once.", code="repeated-parameter")]
             for name in repeated}
        )
    serializer = serializer_class(data={k: v for k, v in request.query_params.items() if k in fields})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ReceiptModeField(serializers.ChoiceField):
    """`receipt`: `true` (a receipt per answer), `false` (none) or `batch` (one signature over the batch, a proof
    per answer). JSON booleans and the usual spellings of a boolean (`1`, `yes`, `on`, ...) are accepted too."""

    TRUE = {"true", "1", "yes", "on"}
    FALSE = {"false", "0", "no", "off", ""}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", "false")  # as given: defaults skip to_internal_value
        super().__init__(choices=["true", "false", "batch"], **kwargs)

    def to_internal_value(self, data):
        if data is True or data is False:
            return "single" if data else "none"
        text = data.strip().lower() if isinstance(data, str) else None
        if text in self.TRUE:
            return "single"
        if text in self.FALSE:
            return "none"
        if text == "batch":
            return "batch"
        self.fail("invalid_choice", input=data)
