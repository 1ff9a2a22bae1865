"""The client code: the only identifier kapmonitor needs for a client.

A pseudonym (e.g. ``K-017``), never a name: 2-32 letters, digits, ``-`` or
``_``, starting with a letter or digit. The CLI and the start-session dialog
both check codes with :func:`is_valid_client_code`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CLIENT_CODE_RE", "is_valid_client_code"]

CLIENT_CODE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")


def is_valid_client_code(code: str) -> bool:
    """True for an acceptable pseudonymous client code (surrounding spaces are not accepted)."""
    return CLIENT_CODE_RE.match(code) is not None
