"""Secrets kept out of what the harness stores, prints and logs.

A URL may carry a password (`postgresql://user:PASSWORD@host/db`, `redis://:PASSWORD@host:6379/0`,
`https://user:PASSWORD@hooks.example/x`) or a libpq `password=` parameter. The harness is given
such URLs on its command line (`--db`, `--broker`) and in farm.yaml, and never repeats the
password: `redact_text` drops it from every URL in a text (the password only: the user, host and
path stay, so the message still says which database), `redact_data` from every string in a JSON
value. `Store.begin_run` stores a run's command line and config only through them, and reads a
command line back through `redact_text` too, so a database an older harness wrote shows none.

A webhook's URL is a secret as a whole (Slack's and Mattermost's carry their token in the
path): messages name a webhook by its origin alone (`origin`).
"""

from __future__ import annotations

import re
import urllib.parse

# A URL in a text: a scheme, `://`, and everything up to a space or a quote.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_NETLOC = re.compile(r"[^/?#]*")


def redact_url(url: str) -> str:
    """A URL without its password (module docstring); the same URL when it has none. The
    userinfo runs to the last `@` before the path, as libpq and urllib split it, so a password
    holding a raw `@` goes whole."""
    url = str(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc = _NETLOC.match(rest).group(0)
    tail = rest[len(netloc):]
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hosts}" if user else hosts
    path, question, after = tail.partition("?")
    if question:
        query, hash_mark, fragment = after.partition("#")
        kept = [p for p in query.split("&") if p and not p.lower().startswith("password=")]
        tail = path + ("?" + "&".join(kept) if kept else "") + hash_mark + fragment
    return f"{scheme}://{netloc}{tail}"


def redact_text(text: str) -> str:
    """`text` with the password of every URL in it removed (module docstring)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def redact_data(value):
    """A JSON value (dicts, lists, strings, numbers) with `redact_text` applied to every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: how a message names a webhook whose whole URL is a
    secret."""
    parts = urllib.parse.urlsplit(str(url))
    host = parts.hostname or "?"
    port = f":{parts.port}" if _port(parts) else ""
    return f"{parts.scheme}://{host}{port}"


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:  # a port that is not a number: name the host alone
        return None
