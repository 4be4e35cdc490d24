"""Who may call what: each RPC's scope, read from the contract, and the check of a caller's key.

Every RPC of ``latentspace.v1`` declares the scope a key needs with the ``latentspace.v1.scope``
method option (``proto/latentspace/v1/options.proto``); :func:`method_scopes` reads them from the
generated descriptors and refuses to start a server when one is missing. The serving interceptor
calls :meth:`Authenticator.identify` and :meth:`Authenticator.authorize` for every call, after the
request id and before admission.

With no keys configured every call is allowed, and :func:`check_exposure` keeps such a server on
loopback unless the operator says ``--insecure-public``. Health checks never need a key (load
balancers and orchestrators probe without one); reflection is served without one too, since it
describes only the public contract.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from latentspace.indexer.errors import InvalidInput, PermissionDenied, Unauthenticated
from latentspace.server.api_keys import KeyRing, Scope
from latentspace_client._generated.latentspace.v1 import latentspace_pb2, options_pb2

#: Services any caller may use, with or without a key.
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")
_OPEN_PREFIXES = tuple(f"/{service}/" for service in OPEN_SERVICES)
#: What the access log names for a caller without a key.
ANONYMOUS = "-"
AUTHORIZATION_KEY = "authorization"
_BEARER = "bearer "


def method_path(service: ServiceDescriptor, method: str) -> str:
    """The gRPC path of a method, ``/latentspace.v1.LatentSpace/Search``."""
    return f"/{service.full_name}/{method}"


def method_scopes(files: Iterable[FileDescriptor] = (latentspace_pb2.DESCRIPTOR,)) -> dict[str, Scope]:
    """Every RPC's path and the scope it declares. Raises when an RPC declares none. (The serving
    interceptor wraps every RPC of these services, server-streaming ones included, so each is
    checked.)"""
    scopes: dict[str, Scope] = {}
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                path = method_path(service, method.name)
                # The generated stub types the extension as a plain FieldDescriptor.
                declared: int = method.GetOptions().Extensions[cast(Any, options_pb2.scope)]
                if declared == options_pb2.SCOPE_UNSPECIFIED:
                    raise RuntimeError(f"{path} declares no scope: add `option (latentspace.v1.scope) = ...;`")
                scopes[path] = Scope(declared)
    return scopes


@dataclass(frozen=True)
class Caller:
    """Who a call came from: the key's name (``-`` without one) and its scope (None when the call
    is not checked: no keys are configured, or the service is open)."""

    name: str
    scope: Scope | None


UNCHECKED = Caller(ANONYMOUS, None)


class Authenticator:
    """Checks each call's ``authorization: Bearer <key>`` against the key ring and the RPC's scope.

    Two steps, so the access log can name a known key even when its scope is too small:
    :meth:`identify` (who: Unauthenticated when no key or an unknown one) and :meth:`authorize`
    (may they: PermissionDenied when the key's scope does not cover the RPC).
    """

    def __init__(self, keys: KeyRing, scopes: Mapping[str, Scope] | None = None) -> None:
        self.keys = keys
        self.scopes = dict(method_scopes() if scopes is None else scopes)

    def identify(self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> Caller:
        """The caller of ``method``, from its bearer token; raises Unauthenticated."""
        if not self.keys or method.startswith(_OPEN_PREFIXES):
            return UNCHECKED
        presented = _bearer_token(metadata)
        if presented is None:
            raise Unauthenticated(
                "this server needs an API key: send the metadata 'authorization: Bearer <key>' "
                "(SDK: api_key=..., CLI: --api-key or LATENTSPACE_API_KEY)",
                reason="API_KEY_MISSING",
            )
        key = self.keys.find(presented)
        if key is None:
            raise Unauthenticated(
                "the API key is not one this server knows; check it, or ask the operator for one",
                reason="API_KEY_UNKNOWN",
            )
        return Caller(key.name, key.scope)

    def authorize(self, caller: Caller, method: str) -> None:
        """Raise PermissionDenied unless the caller's scope covers ``method``'s."""
        if caller.scope is None:
            return
        # An RPC missing from the table (none are: method_scopes checks) would need admin: fail closed.
        needed = self.scopes.get(method, Scope.ADMIN)
        if not caller.scope.allows(needed):
            rpc = method.lstrip("/").rsplit(".", 1)[-1]
            raise PermissionDenied(
                f"key '{caller.name}' has scope {caller.scope.label}; {rpc} needs {needed.label}",
                reason="SCOPE_INSUFFICIENT",
            )


def _bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for name, value in metadata or ():
        if name == AUTHORIZATION_KEY and isinstance(value, str) and value[: len(_BEARER)].lower() == _BEARER:
            token = value[len(_BEARER):].strip()
            return token or None
    return None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve anywhere


def check_exposure(host: str, keys: KeyRing, insecure_public: bool) -> None:
    """Refuse to serve without keys on anything but loopback, unless the operator insists."""
    if keys or insecure_public or is_loopback(host):
        return
    raise InvalidInput(
        f"{host!r} is not a loopback address and no API keys are configured, so anyone who can reach "
        "it could read, change and drop every collection. Configure keys (--api-keys FILE or "
        "LATENTSPACE_API_KEYS_FILE; make them with `latent keys new`), bind 127.0.0.1, or serve "
        "without authentication on purpose with --insecure-public (LATENTSPACE_INSECURE_PUBLIC=1)",
        field="host",
    )


def describe(keys: KeyRing, host: str) -> str:
    """One line for the start-up output: whether calls need keys, and how many of each scope exist."""
    if keys:
        per_scope = Counter(k.scope for k in keys.keys)
        counts = ", ".join(f"{per_scope[s]} {s.label}" for s in Scope if per_scope[s])
        return f"auth: API keys required ({counts}); health and reflection open"
    if is_loopback(host):
        return "auth: off (no API keys configured); loopback only"
    return f"auth: OFF on public address {host} (--insecure-public): any caller may do anything"


def scope_table_markdown(scopes: Mapping[str, Scope] | None = None) -> str:
    """The RPC -> scope table of docs/security.md, generated from the contract."""
    rows = ["| RPC | scope |", "| --- | --- |"]
    for path, scope in (method_scopes() if scopes is None else scopes).items():
        service, rpc = path.lstrip("/").split("/")
        rows.append(f"| `{service.rsplit('.', 1)[-1]}/{rpc}` | {scope.label} |")
    for service in OPEN_SERVICES:
        rows.append(f"| `{service}` (all methods) | none |")
    return "\n".join(rows)
