"""The control API's bearer token: where it is read from, and checking the one a request carries.

The token is a secret: it is read from a file or the environment at start-up, never from the
configuration text, and it never appears in a log line, an error message or a repr.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client import Counter

from poller.config.settings import HttpConfig
from poller.errors import StartupError

log = structlog.get_logger("poller.http")

MIN_TOKEN_LENGTH = 16
# RFC 6750's b64token, the characters a client can send after "Bearer " without quoting.
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
_HOW = (
    "set the environment variable {env} or http.control_token_file to a token of at least "
    f"{MIN_TOKEN_LENGTH} characters (never in the config file itself)"
)


class Refusal(Enum):
    """Why a control request was refused; the value is the metric's `reason` label."""

    MISSING = "missing"  # no Authorization header, or not a Bearer one
    INVALID = "invalid"  # a Bearer token that is not this daemon's


@dataclass(frozen=True, slots=True)
class BearerToken:
    """The control API's token. Its repr hides the value, so logging the object is harmless."""

    value: str = field(repr=False)

    def check(self, authorization: str | None) -> Refusal | None:
        """None when `authorization` (an Authorization header) carries this token, else why not.

        Constant-time in the presented token's content (`hmac.compare_digest`); any text is
        accepted, including non-ASCII and lone surrogates, and refused as INVALID.
        """
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return Refusal.MISSING
        expected = self.value.encode("utf-8", "surrogatepass")
        given = presented.strip().encode("utf-8", "surrogatepass")
        return None if hmac.compare_digest(expected, given) else Refusal.INVALID


@dataclass(frozen=True, slots=True)
class Control:
    """The control API: `set_enabled(name, enabled)` (False: no such mapping) and the token
    every request must carry."""

    set_enabled: Callable[[str, bool], Awaitable[bool]]
    token: BearerToken


def control_view(
    control: Control, refused: Counter
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST /mappings/{name}/{action}. Without this daemon's bearer token: 401 with
    `WWW-Authenticate: Bearer` (RFC 6750; a wrong token is 401 too, error="invalid_token"),
    logged as `control_refused` and counted in `refused` by reason, before the name or action
    is looked at. With it: 404 for an unknown action or mapping, else 200."""

    async def view(request: web.Request) -> web.Response:
        reason = control.token.check(request.headers.get("Authorization"))
        if reason is not None:
            refused.labels(reason.value).inc()
            log.warning("control_refused", reason=reason.value, remote=request.remote)
            challenge = 'Bearer realm="poller"'
            if reason is Refusal.INVALID:
                challenge += ', error="invalid_token"'
            return web.json_response(
                {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": challenge}
            )
        name, action = request.match_info["name"], request.match_info["action"]
        if action not in ("enable", "disable"):
            return web.json_response({"error": f"unknown action {action!r}"}, status=404)
        if not await control.set_enabled(name, action == "enable"):
            return web.json_response({"error": f"no mapping named {name!r}"}, status=404)
        return web.json_response({"mapping": name, "enabled": action == "enable"})

    return view


def read_token(http: HttpConfig, environ: Mapping[str, str], base_dir: Path) -> BearerToken:
    """The token `http` says where to find: `control_token_file` (relative to `base_dir`) when
    set, else the environment variable `control_token_env`.

    Raises StartupError (exit 2) naming `http.control_token_file` when the file cannot be read
    or holds no usable token, and `http.control` when the variable is unset, empty or unusable.
    No message carries the token.
    """
    if http.control_token_file is not None:
        where = "http.control_token_file"
        path = base_dir / http.control_token_file
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StartupError(f"{where}: cannot read {path}: {reason}") from None
        except UnicodeDecodeError:
            raise StartupError(f"{where}: {path} is not UTF-8 text") from None
        source = f"the file {path}"
    else:
        where = "http.control"
        value = environ.get(http.control_token_env, "").strip()
        source = f"the environment variable {http.control_token_env}"
        if not value:
            how = _HOW.format(env=http.control_token_env)
            raise StartupError(f"{where}: true needs a bearer token: {how}")
    problem = _unusable(value)
    if problem:
        raise StartupError(f"{where}: the token in {source} {problem}")
    return BearerToken(value)


def _unusable(value: str) -> str:
    """What is wrong with a token, in words that do not repeat it ("" when it is usable)."""
    if not value:
        return "is empty"
    if len(value) < MIN_TOKEN_LENGTH:
        return f"is {len(value)} characters long; use at least {MIN_TOKEN_LENGTH}"
    if not _B64TOKEN.match(value):
        return "may hold only letters, digits and -._~+/ (then = padding), as RFC 6750 allows"
    return ""
