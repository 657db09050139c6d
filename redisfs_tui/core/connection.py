"""Connecting to Redis: URLs, ACL credentials, TLS, timeouts and bounded retries.

Credentials never appear in anything this module returns for display.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.retry import Retry

from .errors import translated

DEFAULT_URL = "redis://localhost:6379/0"
PASSWORD_ENV = "REDISFS_PASSWORD"
MAX_PASSWORD_FILE = 4096  # bytes: a password file is read whole, so it is bounded


class BadServerSpec(ValueError):
    """A URL or password file that cannot work; the message is for the user."""


class _LoginAwareRetry(Retry):
    """Retries dropped connections and timeouts, but never a refused login: a wrong
    password cannot heal, and redis-py nests retries (health check inside command),
    so retrying it made a bad password take ~10 s to report."""

    def call_with_retry(  # type: ignore[override]
        self, do, fail, is_retryable=None, with_failure_count=False
    ):
        def retryable(error: Exception) -> bool:
            if isinstance(error, redis.AuthenticationError | redis.exceptions.AuthorizationError):
                return False
            return is_retryable(error) if is_retryable else True

        return super().call_with_retry(do, fail, retryable, with_failure_count)


@dataclass(frozen=True)
class ServerSpec:
    """Where a server is and how to log in; built from flags or a URL."""

    url: str = DEFAULT_URL
    username: str | None = None
    password: str | None = None
    socket_timeout: float = 5.0
    connect_timeout: float = 2.0
    retries: int = 4

    @classmethod
    def from_parts(
        cls,
        url: str | None = None,
        host: str | None = None,
        port: int | None = None,
        db: int | None = None,
        username: str | None = None,
        password: str | None = None,
        password_file: str | None = None,
        tls: bool = False,
    ) -> ServerSpec:
        """Combine a URL with seed-style --host/--port flags; flags win."""
        if password_file:
            password = read_password_file(password_file)
        if password is None:
            password = os.environ.get(PASSWORD_ENV) or None
        if not url:
            scheme = "rediss" if tls else "redis"
            url = f"{scheme}://{host or 'localhost'}:{port or 6379}/{db or 0}"
        else:
            check_url(url)
        if host or port:
            parts = urlsplit(url)
            netloc = f"{host or parts.hostname or 'localhost'}:{port or parts.port or 6379}"
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        return cls(url=url, username=username, password=password)


def read_password_file(path: str) -> str:
    """The password in ``path`` (surrounding white space stripped).  OSError when it
    cannot be read; BadServerSpec when it is longer than 4 KiB or not UTF-8 text."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_PASSWORD_FILE + 1)
    if len(data) > MAX_PASSWORD_FILE:
        raise BadServerSpec(f"the password file {path} is longer than {MAX_PASSWORD_FILE} "
                            "bytes: it should hold only the password")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadServerSpec(f"the password file {path} is not UTF-8 text") from None


def check_url(url: str) -> None:
    """BadServerSpec unless ``url`` is a usable redis://, rediss:// or unix:// URL."""
    shown = _URL_PASSWORD.sub(r"\1***@", url)
    try:
        parts = urlsplit(url)
        parse_url(url)  # what redis-py will do with it: scheme, port, query options
    except ValueError as exc:
        raise BadServerSpec(f"bad Redis URL {shown!r}: {exc}") from None
    if parts.scheme == "unix":
        if not parts.path:
            raise BadServerSpec(f"bad Redis URL {shown!r}: unix:// needs a socket path "
                                "(unix:///run/redis/redis.sock)")
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise BadServerSpec(f"bad Redis URL {shown!r}: the path must be a database number "
                            "(redis://host:6379/0)")


_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/]*@")


def redacted(url: str) -> str:
    """The URL with any password replaced, safe for logs, titles and errors."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.password else f"{parts.username}@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, ""))


def connect(spec: ServerSpec, check: bool = True) -> redis.Redis:
    """A thread-safe pooled client that reconnects with bounded backoff.

    With ``check`` the server is pinged once so a wrong address or password
    fails here with a clear FsError instead of at the first filesystem call.
    """
    # Only refused/reset connections are retried: after a timeout the command may
    # have run, and scripts like mknode or release must not run twice.
    retry = _LoginAwareRetry(ExponentialBackoff(cap=1.0, base=0.05), spec.retries,
                             supported_errors=(redis.ConnectionError,))
    kwargs = dict(
        socket_timeout=spec.socket_timeout,
        socket_connect_timeout=spec.connect_timeout,
        retry=retry,
        retry_on_error=[redis.ConnectionError],
        health_check_interval=15,
        max_connections=64,
    )
    if spec.username:
        kwargs["username"] = spec.username
    if spec.password:
        kwargs["password"] = spec.password
    client = redis.Redis.from_url(spec.url, **kwargs)
    if check:
        with translated():
            client.ping()
    return client
