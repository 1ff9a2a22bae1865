"""The client code: the only identifier kapmonitor needs for a client.

A pseudonym (e.g. ``K-017``), never a name: 2-32 letters, digits, ``-`` or
``_``, starting with a letter or digit. The CLI and the start-session dialog
both check codes with :func:`is_valid_client_code`.

A clinician is identified by initials (``AB``, ``J.-P.``): a letter, then up to 7 letters, ``.``
or ``-`` (:func:`is_valid_initials`; the start dialog, the end of a session and the CLI).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CLIENT_CODE_RE", "INITIALS_RE", "is_valid_client_code", "is_valid_initials"]

CLIENT_CODE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")


def is_valid_client_code(code: str) -> bool:
    """True for an acceptable pseudonymous client code (surrounding spaces are not accepted)."""
    return CLIENT_CODE_RE.match(code) is not None


INITIALS_RE: Final = re.compile(r"^[A-Za-z][A-Za-z.\-]{0,7}$")


def is_valid_initials(text: str) -> bool:
    """True for a clinician's initials (surrounding spaces are not accepted)."""
    return INITIALS_RE.match(text) is not None
