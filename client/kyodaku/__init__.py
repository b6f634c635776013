"""The official client of the Kyodaku consent registry (docs/client.md).

Library use::

    from kyodaku import Api, check_ids, LocalCopy
    api = Api.from_env()                      # KYODAKU_URL, KYODAKU_API_KEY
    for row in check_ids(api, ["isbn:9784990166137"], purpose="train-genai", jurisdiction="JP"):
        print(row["id"], row["outcome"], row["basis"])
"""
import importlib

__version__ = "0.1.0"
__all__ = ["Api", "ApiError", "LocalCopy", "StaleCopy", "Unavailable", "check_ids"]
_HOMES = {"Api": "http", "ApiError": "http", "Unavailable": "http", "LocalCopy": "offline", "StaleCopy": "offline",
          "check_ids": "checking"}


def __getattr__(name: str):
    """The names above, imported on first use: `kyodaku check --offline` imports no HTTP library it does not use."""
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
