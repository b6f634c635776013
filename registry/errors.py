"""Registry's own error: an identifier that cannot be parsed. The shared domain errors are in core.errors."""


class InvalidIdentifier(ValueError):
    """An identifier that cannot be parsed; ``detail`` is a sentence a person can act on (registry.identifiers)."""

    code = "invalid-identifier"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail
