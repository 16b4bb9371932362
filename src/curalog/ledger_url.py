"""The ledger server's URL: where a team's PostgreSQL ledger lives (``[ledger] url`` in
``curalog.toml`` or ``CURALOG_DATABASE_URL``), checked before anything connects, and shown with
any password hidden.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

#: the environment variable that names the ledger's database server (wins over [ledger] url)
DATABASE_URL_ENV = "CURALOG_DATABASE_URL"
URL_SCHEMES = ("postgresql", "postgres")


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if has_password else netloc
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}={v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    if netloc == parts.netloc and "=***" not in query:
        return url  # nothing hidden: the text as given (urlunsplit would drop an empty //)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_problem(url: str, where: str, *, password_allowed: bool) -> str | None:
    """Why ``url`` cannot be the ledger's server, or None."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError as exc:
        return f"{where} {redacted(url)!r} is not a URL ({exc})"
    if parts.scheme not in URL_SCHEMES:
        return f"{where} {redacted(url)!r} must start with postgresql:// (empty: the SQLite file)"
    in_query = any(k.lower() == "password" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    if (password or in_query) and not password_allowed:
        return (
            f"{where} holds a password: curalog.toml is read by anyone who reads the project; put the "
            f"URL in the {DATABASE_URL_ENV} environment variable or the password in ~/.pgpass"
        )
    return None
