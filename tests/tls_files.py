"""Certificates and API keys made at test time: a CA, server certificates (good and expired),
a stranger CA, and a client CA with a client certificate for mutual TLS; keys of each scope."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme

from latentspace.server.api_keys import Scope, new_key


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that signed the server certificates
    cert: Path  # server certificate chain for 127.0.0.1 / localhost
    key: Path
    expired_cert: Path  # the same CA, but expired yesterday
    expired_key: Path
    other_ca: Path  # a CA that signed nothing here
    client_ca: Path  # signs client certificates (the server's --tls-client-ca)
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate from other_ca
    stranger_key: Path


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca, other, client_ca = trustme.CA(), trustme.CA(), trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    good = ca.issue_cert("127.0.0.1", "localhost")
    expired = ca.issue_cert("127.0.0.1", "localhost", not_before=now - datetime.timedelta(days=30),
                            not_after=now - datetime.timedelta(days=1))
    client = client_ca.issue_cert("client@example.com", common_name="client")
    stranger = other.issue_cert("stranger@example.com", common_name="stranger")

    def write(name: str, blob: trustme.Blob | list[trustme.Blob]) -> Path:
        path = folder / name
        path.write_bytes(b"".join(b.bytes() for b in blob) if isinstance(blob, list) else blob.bytes())
        return path

    return Pki(
        ca=write("ca.pem", ca.cert_pem),
        cert=write("server.pem", good.cert_chain_pems),
        key=write("server.key", good.private_key_pem),
        expired_cert=write("expired.pem", expired.cert_chain_pems),
        expired_key=write("expired.key", expired.private_key_pem),
        other_ca=write("other-ca.pem", other.cert_pem),
        client_ca=write("client-ca.pem", client_ca.cert_pem),
        client_cert=write("client.pem", client.cert_chain_pems),
        client_key=write("client.key", client.private_key_pem),
        stranger_cert=write("stranger.pem", stranger.cert_chain_pems),
        stranger_key=write("stranger.key", stranger.private_key_pem),
    )


@dataclass(frozen=True)
class Keys:
    """One key of each scope, and the keys file that configures them."""

    read: str
    write: str
    admin: str
    file: Path


def make_keys(path: Path) -> Keys:
    made = {scope: new_key(f"{scope.label}-app", scope) for scope in Scope}
    path.write_text("# test keys\n" + "".join(entry.line() + "\n" for _, entry in made.values()))
    return Keys(read=made[Scope.READ][0], write=made[Scope.WRITE][0], admin=made[Scope.ADMIN][0], file=path)
