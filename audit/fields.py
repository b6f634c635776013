"""A JSON value kept as the exact canonical text its audit hash covers."""
import json

import orjson
from django.db import models

from .chain import canonical_json


class CanonicalJSONField(models.TextField):
    """JSON stored as canonical text (`audit.chain.canonical_json`), read back as Python values.

    Not `jsonb`: the database would parse every document into its own binary form (the larger part of writing an
    audit event in bulk) and give back its own spelling of it. Text keeps the very bytes that were hashed, and
    nothing queries inside audit documents.
    """

    description = "JSON value stored as canonical text"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            # orjson reads the same values as `json` (verify_audit parses every event, bundles of a million-row
            # import several times: docs/performance.md), except integers beyond 64 bits, which `json` reads.
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def get_prep_value(self, value):
        return None if value is None else canonical_json(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else canonical_json(value)
