"""Who is calling, and may they do this? API keys and OIDC bearer tokens, three roles.

Health endpoints are open; every other request needs a principal. Reads are for every role;
writes are for `sre_admin`, except decisions on a service, which its owning team's
`service_owner` may make too. A verified API key is trusted for `api_key_cache_seconds`
(bcrypt is deliberately slow; a request must not be), so a revocation reaches every replica
within that time. A rejected credential is answered from memory for `auth_reject_cache_seconds`,
and an address that keeps presenting bad ones is stopped before its checks are paid for
(`serving.rate_limit.CredentialGate`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from cachetools import TTLCache
from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from config.settings import Settings
from serving.problems import Problem
from store.acting_rights import ActingRights
from store.api_keys import verify_api_key
from store.service_lookup import get_service

if TYPE_CHECKING:
    from serving.rate_limit import CredentialGate

log = logging.getLogger("slo_engine.auth")

ROLES = ("sre_admin", "service_owner", "viewer")
API_PREFIX = "/api/v1"


def route_template(request: Request) -> str:
    """The matched route's path template (`/api/v1/services/{service_id}/slos`): what policies
    and rate limits key on, whatever the concrete ids."""
    path = getattr(request.scope.get("route"), "path", None)
    if not isinstance(path, str):
        return request.url.path
    return path if path.startswith(API_PREFIX) else API_PREFIX + path


class UnauthorizedProblem(Problem):
    status, slug, title = 401, "unauthorized", "Authentication Required"


class RejectedCredentialProblem(UnauthorizedProblem):
    """A credential was presented and is wrong: what the credential gate counts."""


class ForbiddenProblem(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


@dataclass(frozen=True)
class Principal:
    id: str  # stable: what rate limits and the audit log key on
    kind: str  # api_key | token | anonymous
    role: str
    team: str | None
    actor: str  # the person or system, as the audit log names it

    @property
    def can_write(self) -> bool:
        return self.role == "sre_admin"

    @property
    def rights(self) -> ActingRights:
        """What this principal may change, as the store's writes check it."""
        return ActingRights(self.role, self.team)


ANONYMOUS_ADMIN = Principal(
    "anonymous", "anonymous", "sre_admin", None, "anonymous (auth disabled)"
)


class Authenticator:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        # Settings copied with model_copy(update=...) skip validation: refuse here too.
        problem = settings.oidc_configuration_error()
        if problem:
            raise RuntimeError(problem)
        self.engine = engine
        self.settings = settings
        ttl = max(settings.api_key_cache_seconds, 0.001)
        self._keys: TTLCache[str, Principal] = TTLCache(maxsize=10_000, ttl=ttl)
        self._rejected: TTLCache[str, RejectedCredentialProblem] | None = (
            TTLCache(maxsize=10_000, ttl=settings.auth_reject_cache_seconds)
            if settings.auth_reject_cache_seconds > 0
            else None
        )
        self._lock = threading.Lock()
        self.key_checks = asyncio.Semaphore(1)  # see `_checked`
        self._jwks = (
            jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=300)
            if settings.oidc_jwks_url
            else None
        )

    def cached(self, request: Request) -> Principal | None:
        """The principal without any I/O, when it is known already (the common case); a 401
        when the credential was rejected a moment ago."""
        if self.settings.auth == "disabled":
            return ANONYMOUS_ADMIN
        credential = _credential(request)
        if credential is None:
            return None
        digest = _digest(credential)
        with self._lock:
            if self._rejected is not None and (rejected := self._rejected.get(digest)):
                raise RejectedCredentialProblem(rejected.detail, headers=rejected.headers)
            return self._keys.get(digest) if request.headers.get("x-api-key") else None

    def knows(self, credential: str) -> bool:
        """A key verified a moment ago (its owner passes the gate whatever its neighbours do)."""
        if self.settings.auth == "disabled":
            return True
        with self._lock:
            return _digest(credential) in self._keys

    def _reject(self, credential: str, problem: RejectedCredentialProblem) -> None:
        if self._rejected is not None:
            with self._lock:
                self._rejected[_digest(credential)] = problem

    def authenticate(self, request: Request) -> Principal:
        if self.settings.auth == "disabled":
            return ANONYMOUS_ADMIN
        key = request.headers.get("x-api-key")
        if key:
            return self._from_api_key(key)
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token:
            return self._from_token(token.strip())
        raise UnauthorizedProblem(
            "Send an API key in X-API-Key or an OIDC token in 'Authorization: Bearer'.",
            headers={"WWW-Authenticate": 'Bearer realm="slo-engine", ApiKey header="X-API-Key"'},
        )

    def _from_api_key(self, key: str) -> Principal:
        digest = _digest(key)
        with self._lock:
            cached = self._keys.get(digest)
        if cached is not None:
            return cached
        record = verify_api_key(self.engine, key)
        if record is None:
            problem = RejectedCredentialProblem(
                "The API key is unknown, wrong or revoked.",
                headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
            )
            self._reject(key, problem)
            raise problem
        principal = Principal(
            # The key's row id, not its prefix: the audit log and slo-history show this to
            # every reader, and a prefix is what makes a guessed key cost a bcrypt check.
            id=f"api_key:{record.id}",
            kind="api_key",
            role=record.role,
            team=record.team,
            actor=f"api-key:{record.name}",
        )
        with self._lock:
            self._keys[digest] = principal
        return principal

    def _from_token(self, token: str) -> Principal:
        settings = self.settings
        if self._jwks is None:
            raise UnauthorizedProblem(
                "Bearer tokens are not accepted: no identity provider is configured "
                "(SLO_OIDC_JWKS_URL).",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=settings.oidc_algorithms,
                audience=settings.oidc_audience,
                issuer=settings.oidc_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            problem = RejectedCredentialProblem(
                f"The bearer token is not valid: {exc}.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
            self._reject(token, problem)
            raise problem from exc
        role = _claim_role(claims.get(settings.oidc_role_claim))
        if role is None:
            raise ForbiddenProblem(
                f"The token carries no SLO engine role in claim '{settings.oidc_role_claim}' "
                f"(one of {', '.join(ROLES)})."
            )
        team = claims.get(settings.oidc_team_claim)
        if isinstance(team, list):
            team = team[0] if team else None
        return Principal(
            id=f"token:{claims['sub']}",
            kind="token",
            role=role,
            team=str(team) if team else None,
            actor=str(claims.get(settings.oidc_actor_claim) or claims["sub"]),
        )


def _credential(request: Request) -> str | None:
    return credential_of(first_headers(request.scope.get("headers") or []))


def first_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Each header's first value, as `Request.headers.get` reads it (a repeated X-API-Key must
    mean one key everywhere: cache, gate and verification)."""
    first: dict[bytes, bytes] = {}
    for name, value in raw:
        first.setdefault(name, value)
    return first


def credential_of(headers: dict[bytes, bytes]) -> str | None:
    """The presented API key or bearer token, whichever the request carries, from the raw
    ASGI headers (lower-cased names), so a layer running before any `Request` reads it too."""
    key = headers.get(b"x-api-key")
    if key:
        return key.decode("latin-1")
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def client_address(request: Request) -> str:
    """Who the credential gate counts: the peer address (behind a proxy, run uvicorn with
    `--proxy-headers --forwarded-allow-ips` so that this is the client, not the proxy)."""
    return request.client.host if request.client else "unknown"


def _claim_role(value: Any) -> str | None:
    """The strongest of the engine's roles a claim (string or list) names."""
    names = value if isinstance(value, list) else [value]
    for role in ROLES:  # strongest first
        if role in names:
            return role
    return None


async def authenticate(request: Request) -> Principal:
    """FastAPI dependency of every protected router: the caller, or a 401 problem.

    Async so that a known key costs no thread hop; verifying a new one (bcrypt, the store) or
    a token (JWKS) runs in the thread pool."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.cached(request)
    if principal is None:
        principal = await _checked(request, authenticator)
    request.state.principal = principal
    if request.method not in ("GET", "HEAD", "OPTIONS") and not _write_allowed(request, principal):
        raise ForbiddenProblem(
            f"Role '{principal.role}' may not {request.method} {request.url.path}: writes "
            "need sre_admin (or service_owner, for decisions on its own team's services)."
        )
    return principal


async def _checked(request: Request, authenticator: Authenticator) -> Principal:
    """A credential nobody has vouched for yet, checked at the gate's price: the address
    reserves a check first, and API keys are checked one at a time, so a flood of wrong keys
    can keep one core busy with bcrypt, never the event loop's (with every check in the thread
    pool at once, the loop's thread got a fortieth of the CPU: cached reads took 100-250 ms
    instead of 5)."""
    if _credential(request) is None:
        return authenticator.authenticate(request)  # the 401 that asks for credentials
    gate: CredentialGate = request.app.state.credential_gate
    address = client_address(request)
    await gate.admit(address)
    if request.headers.get("x-api-key"):
        async with authenticator.key_checks:
            principal = await run_in_threadpool(authenticator.authenticate, request)
    else:
        principal = await run_in_threadpool(authenticator.authenticate, request)
    await gate.succeeded(address)
    return principal


#: Writes any role may make: they change nothing (impact analysis is a computation).
READ_ONLY_POSTS = ("/api/v1/slos/impact-analysis",)
#: Writes a service_owner may make, on its own team's services (checked by the route).
OWNER_WRITES = ("/api/v1/services/{service_id}/slos", "/api/v1/slos/openslo")


def _write_allowed(request: Request, principal: Principal) -> bool:
    template = route_template(request)
    if template in READ_ONLY_POSTS:
        return True
    if principal.role == "sre_admin":
        return True
    return principal.role == "service_owner" and template in OWNER_WRITES


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_service_owner(engine: Engine, principal: Principal, service_id: str) -> None:
    """For work that must be refused before it starts (regenerating publishes): the rights a
    write checks in its own transaction (`store.acting_rights`), checked up front."""
    if principal.role == "sre_admin":
        return
    with engine.connect() as conn:
        principal.rights.require_for(get_service(conn, service_id))


def warn_if_disabled(settings: Settings) -> None:
    if settings.auth == "disabled":
        banner = "!" * 78
        log.warning(
            "%s\nAUTHENTICATION IS DISABLED (SLO_AUTH=disabled): every caller is an sre_admin."
            "\nThis is for the local demo only. Never run it like this where others can "
            "reach it.\n%s",
            banner,
            banner,
        )
