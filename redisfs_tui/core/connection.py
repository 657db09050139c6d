"""Connecting to Redis: URLs, ACL credentials, TLS, timeouts and bounded retries.

One server (``redis://``, ``rediss://``, ``unix://``), a Redis Cluster (noticed by
``HELLO`` at connect time, or named with ``redis+cluster://h1:p1,h2:p2``) or a
Sentinel-managed master (``redis+sentinel://h1:p1,h2:p2/SERVICE[/DB]``).
Credentials never appear in anything this module returns for display.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from .cluster import cluster_client, cluster_enabled
from .errors import translated

DEFAULT_URL = "redis://localhost:6379/0"
PASSWORD_ENV = "REDISFS_PASSWORD"
MAX_PASSWORD_FILE = 4096  # bytes: a password file is read whole, so it is bounded
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
SENTINEL_PORT = 26379


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
        if (host or port) and multi_host(url):
            raise BadServerSpec("--host/--port cannot be combined with a "
                                f"{url.partition('://')[0]}:// URL: put the hosts in the URL")
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
    """BadServerSpec unless ``url`` is a usable redis://, rediss://, unix://,
    redis+cluster:// or redis+sentinel:// URL."""
    shown = _URL_PASSWORD.sub(r"\1***@", url)
    if multi_host(url):
        parse_multi_url(url)
        return
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


def multi_host(url: str) -> bool:
    """True for the cluster and sentinel schemes (a comma-separated host list)."""
    scheme = url.partition("://")[0].lower()
    return scheme in CLUSTER_SCHEMES or scheme in SENTINEL_SCHEMES


def _split_multi(url: str) -> tuple[str, str, str, str]:
    """(scheme, userinfo, host list, path) of a multi-host URL.  The userinfo ends at
    the last "@" (a password may hold "/", "," or "@"; host lists and services do not)."""
    scheme, _, rest = url.partition("://")
    creds, at, tail = rest.rpartition("@")
    hostlist, _, path = tail.partition("/")
    return scheme, creds if at else "", hostlist, path


@dataclass(frozen=True)
class MultiUrl:
    """A parsed redis+cluster:// or redis+sentinel:// URL."""

    scheme: str
    username: str | None
    password: str | None
    hosts: list[tuple[str, int]]
    service: str  # sentinel only
    db: int

    @property
    def tls(self) -> bool:
        return CLUSTER_SCHEMES.get(self.scheme, SENTINEL_SCHEMES.get(self.scheme, False))


def parse_multi_url(url: str) -> MultiUrl:
    """Parse ``redis+cluster://[user:pass@]h:p[,h:p...][/0]`` or
    ``redis+sentinel://[user:pass@]h:p[,h:p...]/SERVICE[/DB]``; BadServerSpec if bad."""
    shown = redacted(url)
    scheme, creds, hostlist, path = _split_multi(url)
    scheme = scheme.lower()
    if "?" in path or "?" in hostlist or "#" in path:
        raise BadServerSpec(f"bad Redis URL {shown!r}: no query options here")
    username = password = None
    if creds:
        user, colon, secret = creds.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinel = scheme in SENTINEL_SCHEMES
    hosts = []
    for item in hostlist.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            host, port = item.strip(), str(SENTINEL_PORT if sentinel else 6379)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadServerSpec(f"bad Redis URL {shown!r}: {item.strip()!r} is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    parts = [p for p in path.split("/") if p]
    service, db = "", 0
    if sentinel:
        if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise BadServerSpec(f"bad Redis URL {shown!r}: name the service "
                                "(redis+sentinel://host:26379/mymaster[/DB])")
        service, db = unquote(parts[0]), int(parts[1]) if len(parts) == 2 else 0
    elif parts not in ([], ["0"]):
        raise BadServerSpec(f"bad Redis URL {shown!r}: a cluster has only database 0")
    return MultiUrl(scheme, username, password, hosts, service, db)


def redacted(url: str) -> str:
    """The URL with any password replaced, safe for logs, titles and errors."""
    if multi_host(url):
        scheme, creds, hosts, path = _split_multi(url)
        if ":" in creds:
            creds = creds.partition(":")[0] + ":***"
        login = f"{creds}@" if creds or "@" in url else ""
        return f"{scheme}://{login}{hosts}" + (f"/{path}" if path else "")
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.password else f"{parts.username}@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, ""))


def connect(spec: ServerSpec, check: bool = True, replica: bool = False) -> Any:
    """A thread-safe pooled client that reconnects with bounded backoff.

    With ``check`` the server is pinged once so a wrong address or password
    fails here with a clear FsError instead of at the first filesystem call; a node
    of a Redis Cluster is then noticed and a cluster client returned instead.
    ``replica``: with Sentinel, connect to a replica (a read-only mount) when one is up.
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
    if multi_host(spec.url):
        with translated():  # the cluster client asks its seed nodes at once
            client = _connect_multi(spec, parse_multi_url(spec.url), kwargs, replica)
    else:
        client = redis.Redis.from_url(spec.url, **kwargs)
    if check:
        with translated():
            client.ping()
            if isinstance(client, redis.Redis) and not multi_host(spec.url) \
                    and cluster_enabled(client):
                node = client.get_connection_kwargs()
                client.close()
                for name in ("username", "password"):  # also those given in the URL
                    if node.get(name) and name not in kwargs:
                        kwargs[name] = node[name]
                client = _cluster(spec, [(node["host"], node["port"])], kwargs,
                                  spec.url.startswith("rediss:"))
                client.ping()
    return client


def _cluster(spec: ServerSpec, hosts: list[tuple[str, int]], kwargs: dict, tls: bool) -> Any:
    """A cluster client with the same login, timeouts and retry rule as ``kwargs``."""
    options = {k: v for k, v in kwargs.items() if k not in ("retry_on_error",)}
    options["retry"] = _LoginAwareRetry(ExponentialBackoff(cap=1.0, base=0.05), spec.retries)
    if tls:
        options["ssl"] = True
    return cluster_client(hosts, **options)


def _connect_multi(spec: ServerSpec, parsed: MultiUrl, kwargs: dict, replica: bool) -> Any:
    if parsed.username and "username" not in kwargs:
        kwargs["username"] = parsed.username
    if parsed.password and "password" not in kwargs:
        kwargs["password"] = parsed.password
    if parsed.scheme in CLUSTER_SCHEMES:
        return _cluster(spec, parsed.hosts, kwargs, parsed.tls)
    # the sentinels themselves are asked without the master's login (their own ACL
    # is rare); timeouts apply to them too, so a dead sentinel costs seconds, not hours
    # (and once each: the data connection's retry asks them all again; nested retries
    # made three dead sentinels take 21 s to report)
    sentinel_kwargs = {"socket_timeout": spec.socket_timeout,
                       "socket_connect_timeout": spec.connect_timeout,
                       "retry": Retry(NoBackoff(), 0)}
    if parsed.tls:
        kwargs["ssl"] = True
    kwargs.pop("max_connections", None)
    sentinel = Sentinel(parsed.hosts, sentinel_kwargs=sentinel_kwargs, db=parsed.db, **kwargs)
    if replica:
        return sentinel.slave_for(parsed.service, redis_class=redis.Redis)
    return sentinel.master_for(parsed.service, redis_class=redis.Redis)
