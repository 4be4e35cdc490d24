"""The explorer's HTTP server: the page's static files and the JSON API, on the standard library.

``GET /`` and the files of ``static/`` (a fixed list read at start: no request names a path on
disk), ``GET /api/<name>?collection=...`` and ``POST /api/<name>`` with a JSON body for the
endpoints of :class:`~latentspace.explorer.api.ExplorerApi`. Requests run in threads (one SDK
client is shared; it is thread-safe).

The explorer acts for whoever reaches it, with its own API key if it was given one; it only ever
makes read calls. It binds loopback unless told otherwise, and answers only requests whose
``Host`` header names the address it serves, so that a web page elsewhere cannot reach it through
a DNS name it controls (DNS rebinding); it sends no CORS headers, so other origins cannot read it.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from latentspace.explorer.api import BadRequest, ExplorerApi
from latentspace_client import LatentSpaceError

log = logging.getLogger(__name__)

#: The largest request body (an uploaded image as base64 in JSON).
MAX_BODY_BYTES = 16 * 1024 * 1024
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
#: SDK error classes by the HTTP status the page gets, most specific first.
_STATUS = {"InvalidArgument": 400, "NotFound": 404, "AlreadyExists": 409, "FailedPrecondition": 409,
           "ResourceExhausted": 429, "Unauthenticated": 502, "PermissionDenied": 502, "Unavailable": 503,
           "DeadlineExceeded": 504}


def static_files() -> dict[str, tuple[bytes, str]]:
    """``{url path: (bytes, content type)}`` of the page's files, from the package."""
    folder = resources.files("latentspace.explorer") / "static"
    files = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            files["/" + entry.name] = (entry.read_bytes(), _TYPES[suffix])
    files["/"] = files["/index.html"]
    return files


class ExplorerServer(ThreadingHTTPServer):
    """The explorer on ``(host, port)`` (port 0: a free one; see :attr:`url`)."""

    daemon_threads = True

    def __init__(self, api: ExplorerApi, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.api = api
        self.files = static_files()
        super().__init__((host, port), ExplorerHandler)
        bound = self.server_address[1]
        names = {host, "127.0.0.1", "localhost", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
        self.allowed_hosts = {f"{name}:{bound}" for name in names} | ({host} if bound == 80 else set())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> ExplorerServer:
        """Serve in a background thread (for tests and embedding); :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="latent-explore", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class ExplorerHandler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"
    server_version = "latent-explore"

    def do_GET(self) -> None:
        if not self._host_allowed():
            return
        url = urlsplit(self.path)
        if url.path.startswith("/api/"):
            self._api(url.path[5:], dict(parse_qsl(url.query)))
            return
        found = self.server.files.get(url.path)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")
            return
        self._send(HTTPStatus.OK, *found)

    def do_POST(self) -> None:
        if not self._host_allowed():
            return
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if not url.path.startswith("/api/") or length > MAX_BODY_BYTES:
            self._json(HTTPStatus.NOT_FOUND if length <= MAX_BODY_BYTES else HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       {"error": "no such endpoint" if length <= MAX_BODY_BYTES else "request too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the body must be JSON"})
            return
        self._api(url.path[5:], body if isinstance(body, dict) else {})

    def _api(self, name: str, request: dict[str, Any]) -> None:
        endpoint = self.server.api.routes.get(name)
        if endpoint is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {name!r}"})
            return
        try:
            self._json(HTTPStatus.OK, endpoint(request))
        except BadRequest as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except (ValueError, TypeError) as error:  # the SDK refused it before sending
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except LatentSpaceError as error:
            status = next((code for cls, code in _STATUS.items() if type(error).__name__ == cls), 502)
            self._json(status, {"error": error.details, "code": error.code.name, "reason": error.reason})
        except Exception:
            log.exception("explorer endpoint %s failed", name)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "the explorer failed; its log has the details"})

    def _host_allowed(self) -> bool:
        if self.headers.get("Host", "") in self.server.allowed_hosts:
            return True
        self._send(HTTPStatus.FORBIDDEN, b"unknown Host header", "text/plain; charset=utf-8")
        return False

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body, allow_nan=False).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
