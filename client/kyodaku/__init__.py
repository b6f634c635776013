"""The official client of the Kyodaku consent registry (docs/client.md).

Library use::

    from kyodaku import Api, check_ids, LocalCopy
    api = Api.from_env()                      # KYODAKU_URL, KYODAKU_API_KEY
    for row in check_ids(api, ["isbn:9784990166137"], purpose="train-genai", jurisdiction="JP"):
        print(row["id"], row["outcome"], row["basis"])
"""
from .checking import check_ids
from .http import Api, ApiError, Unavailable
from .offline import LocalCopy, StaleCopy

__version__ = "0.1.0"
__all__ = ["Api", "ApiError", "LocalCopy", "StaleCopy", "Unavailable", "check_ids"]
