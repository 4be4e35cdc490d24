"""How a tabular source's columns map onto an item, and whether remote images may be fetched.

By default a row's ``id``, ``text``, ``image`` and ``vector`` columns are the item's, ``payload``
and ``content_ref`` keep their meaning, and every other column goes into the payload. A corpus
with other names needs no rewriting: ``ReadOptions(text_field="body", id_field="doc_id")`` reads
``body`` as the text, and ``payload_fields`` keeps only the named columns in the payload.

Remote image URLs (``http://``, ``https://``) are never fetched unless ``fetch_urls`` is set; then
each is fetched once, with a timeout and a size limit (``latent index --fetch-urls``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Seconds to wait for a remote image (connect and each read), and its largest accepted size.
URL_TIMEOUT_SECONDS = 10.0
URL_MAX_BYTES = 32 * 1024 * 1024
#: The item's fields, in the order rows are renamed to them.
CONTENT_FIELDS = ("id", "text", "image", "vector")
#: Columns with a meaning of their own whatever the mapping.
KEPT_COLUMNS = ("payload", "content_ref")


@dataclass(frozen=True)
class ReadOptions:
    """Column names of the item's fields, which columns form the payload, and remote fetching."""

    id_field: str = "id"
    text_field: str = "text"
    image_field: str = "image"
    vector_field: str = "vector"
    #: Columns copied into the payload; None: every column that is not one of the item's fields.
    payload_fields: tuple[str, ...] | None = None
    fetch_urls: bool = False
    url_timeout: float = URL_TIMEOUT_SECONDS
    url_max_bytes: int = URL_MAX_BYTES

    @property
    def renames(self) -> bool:
        """Whether rows need renaming (any mapping other than the default one)."""
        return self.column_names() != CONTENT_FIELDS or self.payload_fields is not None

    def column_names(self) -> tuple[str, str, str, str]:
        return (self.id_field, self.text_field, self.image_field, self.vector_field)

    def content_columns(self) -> tuple[str, str, str]:
        return (self.text_field, self.image_field, self.vector_field)

    def rename(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` with the item's fields under their own names and only the payload columns kept.

        A column named like an item field that the mapping does not use (say ``text`` when
        ``text_field`` is ``body``) is dropped, so it cannot stand in for the mapped one.
        """
        out: dict[str, Any] = {}
        mapped = self.column_names()
        for canonical, name in zip(CONTENT_FIELDS, mapped, strict=True):
            if name in row:
                out[canonical] = row[name]
        for key, value in row.items():
            if key in mapped or key in CONTENT_FIELDS:
                continue
            if key in KEPT_COLUMNS or self.payload_fields is None or key in self.payload_fields:
                out[key] = value
        return out


def fetch_url(url: str, *, timeout: float = URL_TIMEOUT_SECONDS, max_bytes: int = URL_MAX_BYTES) -> bytes:
    """The body of ``url`` (``http``/``https`` only); :class:`OSError` naming the problem otherwise.

    Read in chunks and given up past ``max_bytes``, so a huge or endless response costs at most that.
    """
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise OSError(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise OSError(f"{url} is {declared} bytes; the limit is {max_bytes}")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise OSError(f"{url} is over the limit of {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise OSError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot fetch {url}: {exc.reason}") from None
    except TimeoutError:
        raise OSError(f"cannot fetch {url}: no answer within {timeout} s") from None
