"""Masking secrets in text that may reach an error, a log line or a ``repr``.

Pure: string and JSON-value functions only. The SDK's secrets are API keys (``gpcn_...``, and the
client's own key whatever it looks like) and private keys (PEM blocks, and any field of a body
named like a secret).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import quote

__all__ = [
    "API_KEY_PREFIX",
    "MIN_SECRET_LENGTH",
    "SNIPPET_LENGTH",
    "mask_secret_fields",
    "redact",
    "redact_api_key",
    "redact_value",
    "snippet",
]

API_KEY_PREFIX: Final = "gpcn_"
SNIPPET_LENGTH: Final = 200

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# The whole token after the prefix: letters, digits and what base64, base64url, dotted
# (JWT-like) and percent-encoded keys use. It does not end on a dot, so that a key at the end
# of a sentence leaves the full stop in place.
_API_KEY = re.compile(re.escape(API_KEY_PREFIX) + r"[A-Za-z0-9_\-+/=%~.]*[A-Za-z0-9_\-+/=%~]")
MIN_SECRET_LENGTH: Final = 4
"""Shorter strings are not masked as secrets: they are no credible key, and masking every
occurrence of them would mangle ordinary words in the message."""


def _secret_forms(secret: str) -> set[str]:
    """The ways a secret may be spelled in a body: as is, JSON-escaped, percent-encoded."""
    escaped = json.dumps(secret)[1:-1]
    return {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe="")}


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Hide private keys and API keys in text that may end up in an error or a log line.

    Each of ``secrets`` (the client's own API key) is masked wherever it appears, whatever it
    looks like; any other ``gpcn_`` token is shown by its prefix only.
    """
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            # Longest first: a form that contains another is masked whole.
            for form in sorted(_secret_forms(secret), key=len, reverse=True):
                text = text.replace(form, redact_api_key(secret))
    text = _PRIVATE_KEY.sub("<redacted private key>", text)
    return _API_KEY.sub(API_KEY_PREFIX + "…", text)


def redact_api_key(api_key: str) -> str:
    """Show an API key by its prefix only, as ``repr`` does."""
    return API_KEY_PREFIX + "…" if api_key.startswith(API_KEY_PREFIX) else "…"


def snippet(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """The start of a body, decoded leniently and with secrets hidden, for error messages."""
    # Read on past the cut by a secret's longest spelling: one that starts before it is whole.
    extra = max((6 * len(secret) for secret in secrets), default=0)
    text = body[: SNIPPET_LENGTH * 4 + extra].decode("utf-8", errors="replace")
    return redact(text, secrets)[:SNIPPET_LENGTH]


def redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """``redact`` every string inside a decoded JSON value (an error's details)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [redact_value(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item, secrets) for key, item in value.items()}
    return value


# Keys of a body whose values are secrets whatever they look like (a bare base64 private key
# has no PEM header to be recognised by).
_SECRET_FIELD: Final = re.compile(r"private|secret|passw|passphrase|api_?key|token", re.IGNORECASE)
MASKED: Final = "<redacted>"


def mask_secret_fields(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """A copy of a decoded JSON value fit to show: secret-named fields masked, text redacted."""
    if isinstance(value, dict):
        return {
            key: MASKED
            if isinstance(key, str) and _SECRET_FIELD.search(key)
            else mask_secret_fields(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_secret_fields(item, secrets) for item in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value
