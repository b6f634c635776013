"""Request parsing with the server's size limit applied (DRF streams JSON past DATA_UPLOAD_MAX_MEMORY_SIZE)."""
from django.conf import settings
from rest_framework.parsers import JSONParser

from .errors import RequestTooLarge


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise RequestTooLarge(f"The request body is {length} bytes; at most {limit} are accepted.")
        if stream is not None and limit is not None:
            from io import BytesIO

            data = stream.read(limit + 1)
            if len(data) > limit:
                raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
            stream = BytesIO(data)
        return super().parse(stream, media_type, parser_context)
