"""Webhook URLs are credentials (a Slack or Teams URL is all it takes to post to a channel):
check them once at start, and show only their scheme and host anywhere else."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact(url: str) -> str:
    """``https://hooks.slack.com/***``: enough to tell which service, nothing to post with."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or '?'}://{host}{port}/***"


def check(url: str, *, what: str) -> str:
    """``url`` trimmed, or ValueError (naming ``what``, showing the URL redacted) when it is
    not an absolute http(s) URL."""
    value = url.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError(f"{what} is not a valid URL ({redact(value)})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL, got {redact(value)}")
    return value


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without ``url``, its path, query or password, any of which
    may be the token."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "*** (the error message named the URL)" if url in text else text
    text = text.replace(url, redact(url))
    for secret in (parts.path, parts.query, password):
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return text
