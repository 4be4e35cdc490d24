"""The bounds on what one request may ask for, and the budget one request spends against them.

:class:`Limits` is the one set of bounds, with its defaults; the server reads each field from a
``LATENTSPACE_<FIELD>`` variable, the CLI tools use the defaults. Bounds come in two kinds:

- *per item*: one text, one image, one batch, one k (``max_text_chars``, ``max_image_pixels``, ...);
- *per request*: what all of one request's items add up to (``max_request_pixels``,
  ``max_request_text_chars``, ``max_hits``, ...), so many items each under their own bound cannot
  add up to an unbounded request.

A :class:`RequestBudget` is made per request (``limits.budget()``) and passed into the work that
spends it: image decoding draws on its pixels one image at a time, before each is decompressed;
text resolution and ingest draw on its characters. Going over raises :class:`LimitExceeded`
(RESOURCE_EXHAUSTED over gRPC) naming the request field and the limit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits


@dataclass(frozen=True)
class Limits:
    """Explicit bounds on what one request may ask for (see the module docstring)."""

    max_message_bytes: int = 64 * 1024 * 1024
    max_batch: int = 1024  # queries, items, pairs or mix parts in one request
    max_k: int = 1000
    max_text_chars: int = 10_000  # one text
    max_image_pixels: int = 50_000_000  # one image
    max_steps: int = 256  # interpolation steps
    max_ef_search: int = 10_000  # HNSW efSearch a request may ask for (memory grows with it)
    max_nprobe: int = 65_536  # IVF lists a request may probe
    # Per request: what all its items add up to.
    max_request_pixels: int = 100_000_000  # decoded image pixels, all images of one request
    max_request_text_chars: int = 1_000_000  # characters of every text of one request
    max_filter_conditions: int = 64  # conditions of one filter
    max_filter_values: int = 10_000  # any_of values of one filter, all conditions together
    max_exclude_ids: int = 10_000  # ids one search may exclude
    max_ids: int = 10_000  # ids of one Get or Delete
    max_hits: int = 100_000  # hits in one response: queries x k, steps x k
    max_map_sample: int = 10_000  # items one Map may sample (each is read, projected and clustered)
    max_decoded_images: int = 64  # images one Decode, Interpolate or Edit may draw with a decoder
    max_label_items: int = 10_000  # items read for each side of a direction made from payload labels
    # Diverse results (MMR): the default candidate pool is this many times k, and no pool is larger.
    diversity_pool_factor: int = 4
    max_diversity_pool: int = 10_000
    # Index kinds a CreateCollection may name (see IndexKindLimits for each).
    max_index_nlist: int = IndexKindLimits.max_index_nlist
    max_index_hnsw_m: int = IndexKindLimits.max_index_hnsw_m
    max_index_fixed_bytes: int = IndexKindLimits.max_index_fixed_bytes
    max_index_bytes_per_vector: int = IndexKindLimits.max_index_bytes_per_vector
    index_trial_timeout_s: float = IndexKindLimits.index_trial_timeout_s
    index_trial_memory_bytes: int = IndexKindLimits.index_trial_memory_bytes

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidInput(f"limit {f.name} must be a positive number, got {value!r}", field=f.name)
        try:  # a bad index-kind limit fails at start, not at the first create
            self.index_kind_limits()
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    def index_kind_limits(self) -> IndexKindLimits:
        """The index-kind limits, as the library takes them (``DataDir.create_collection``)."""
        return IndexKindLimits(**{f.name: getattr(self, f.name) for f in fields(IndexKindLimits)})

    def budget(self) -> RequestBudget:
        """A fresh budget for one request."""
        return RequestBudget(self)

    def check_count(self, limit: str, count: int, field: str, what: str) -> None:
        """Raise :class:`LimitExceeded` naming ``field`` and the limit when ``count`` is over ``limit``.

        ``limit`` is a field name of this class (``"max_ids"``); ``what`` says what was counted.
        """
        bound = getattr(self, limit)
        if count > bound:
            raise LimitExceeded(f"{count} {what}, over the limit of {bound} ({limit}); split the request "
                                "or ask for less", field=field)


class RequestBudget:
    """What one request may still spend of its per-request limits.

    Thread-safe: the bulk pipeline may decode one request's images on several threads.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.pixels_spent = 0
        self.text_chars_spent = 0

    def spend_pixels(self, pixels: int, field: str) -> None:
        """Draw one image's pixels (known from its header, before decoding); over: LimitExceeded."""
        bound = self.limits.max_request_pixels
        with self._lock:
            total = self.pixels_spent + pixels
            if total > bound:
                raise LimitExceeded(
                    f"this image brings the request to {total} decoded pixels, over the limit of {bound} "
                    "per request (max_request_pixels); send fewer or smaller images per request",
                    field=field)
            self.pixels_spent = total

    def spend_text(self, chars: int, field: str) -> None:
        """Draw one text's characters; over: LimitExceeded."""
        bound = self.limits.max_request_text_chars
        with self._lock:
            total = self.text_chars_spent + chars
            if total > bound:
                raise LimitExceeded(
                    f"this text brings the request to {total} characters, over the limit of {bound} per "
                    "request (max_request_text_chars); send fewer or shorter texts per request",
                    field=field)
            self.text_chars_spent = total
