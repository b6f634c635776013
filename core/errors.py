"""The shared error type: domain errors that services of every app raise; the API turns them into problem+json
(api/errors.py), the admin into form errors. At the bottom layer so that every app can raise them."""


class DomainError(Exception):
    status = 400
    code = "invalid"
    title = "Invalid request"

    def __init__(self, detail: str, *, errors: list[dict] | None = None, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status = 400
    code = "invalid"
    title = "Invalid input"


class NotFound(DomainError):
    """Also raised for objects the caller may not see: existence is never revealed."""

    status = 404
    code = "not-found"
    title = "Not found"


class NotAuthorizedForHolder(NotFound):
    code = "not-authorized-for-holder"


class ReadOnlyRole(DomainError):
    status = 403
    code = "read-only-role"
    title = "Permission denied"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


def field_error(field: str, code: str, detail: str) -> dict:
    return {"field": field, "code": code, "detail": detail}


class TooManyRequests(DomainError):
    """Over a rate: answered 429 with `Retry-After` (seconds)."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code)
        self.retry_after = max(1, int(retry_after))
