"""The server's TLS credentials, from the certificate, key and client-CA files the operator names.

``--tls-cert`` and ``--tls-key`` turn TLS on; ``--tls-client-ca`` adds mutual TLS (a client must
present a certificate signed by that CA). The files are checked at start with the standard
library's ``ssl`` module, so a missing file, a key that does not match the certificate or a
file that is not PEM stops the server with the setting's name, not a handshake error later.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from latentspace.indexer.errors import InvalidInput


def server_credentials(
    cert: Path | None, key: Path | None, client_ca: Path | None
) -> grpc.ServerCredentials | None:
    """TLS credentials for ``add_secure_port``; None when TLS is off (no certificate configured)."""
    if cert is None and key is None:
        if client_ca is not None:
            raise InvalidInput("mutual TLS needs the server's own certificate: set tls_cert and tls_key too",
                               field="tls_client_ca")
        return None
    if cert is None or key is None:
        missing = "tls_cert" if cert is None else "tls_key"
        raise InvalidInput("TLS needs both a certificate (--tls-cert) and its private key (--tls-key)",
                           field=missing)
    cert_pem, key_pem = _read(cert, "tls_cert"), _read(key, "tls_key")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as error:
        raise InvalidInput(f"the certificate and key do not form a usable pair ({error.reason or error})",
                           field="tls_cert") from None
    client_ca_pem = None
    if client_ca is not None:
        client_ca_pem = _read(client_ca, "tls_client_ca")
        try:
            ssl.create_default_context().load_verify_locations(cadata=client_ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as error:
            raise InvalidInput(f"not a PEM CA certificate ({error})", field="tls_client_ca") from None
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=client_ca_pem,
        require_client_auth=client_ca_pem is not None,
    )


def describe(cert: Path | None, client_ca: Path | None) -> str:
    """One line for the start-up output."""
    if cert is None:
        return "tls: off (plain text)"
    return "tls: on, client certificates required (mutual TLS)" if client_ca else "tls: on"


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {setting}: {error.strerror}", field=setting) from None
