"""Camera URLs: credentials put in for opening, and taken out again for every message.

Pure string functions (no OpenCV), so that the daemon and the CLI can name a camera
even on a box installed without the camera libraries.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["redact_url", "with_credentials"]


def redact_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with the user (and password) put in, percent-encoded; unchanged without a user."""
    if not username or "://" not in url:
        return url
    parts = urlsplit(url)
    user = quote(username, safe="")
    if password is not None:
        user = f"{user}:{quote(password, safe='')}"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))
