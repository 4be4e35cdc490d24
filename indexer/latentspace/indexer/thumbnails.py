"""Small previews of image items, made when an item is written and stored with it.

A thumbnail is the decoded image scaled down (never up) so that its longer side is at most
``max_side`` pixels, encoded as WebP (JPEG where Pillow lacks WebP): a few KB that the explorer and
the SDKs can show without any path or file leaving the server. Only images get one; texts and
vectors have nothing to preview. Items written before thumbnails existed have none until they are
upserted again.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image, features

from latentspace.indexer.items import Thumbnail

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage

#: The longest side of a thumbnail in pixels, unless the operator sets another (0 turns them off).
DEFAULT_THUMBNAIL_SIDE = 128
#: Bounds on that setting: below 16 px nothing is recognisable, above 1024 it is no longer small.
MIN_THUMBNAIL_SIDE, MAX_THUMBNAIL_SIDE = 16, 1024
#: Encoder quality (WebP and JPEG alike): about 2-6 KB for a 128 px preview.
QUALITY = 80

_WEBP = features.check("webp")
MEDIA_TYPE = "image/webp" if _WEBP else "image/jpeg"


def check_thumbnail_side(side: int, field: str = "thumbnail_side") -> int:
    """``side`` if it is 0 (no thumbnails) or within the bounds; ValueError naming ``field`` otherwise."""
    if side != 0 and not MIN_THUMBNAIL_SIDE <= side <= MAX_THUMBNAIL_SIDE:
        raise ValueError(f"{field} must be 0 (no thumbnails) or between {MIN_THUMBNAIL_SIDE} and "
                         f"{MAX_THUMBNAIL_SIDE} pixels, got {side}")
    return side


def make_thumbnail(image: PilImage, max_side: int = DEFAULT_THUMBNAIL_SIDE) -> Thumbnail:
    """``image`` (RGB, as :func:`~latentspace.indexer.images.decode_image` returns it) as a thumbnail
    whose longer side is at most ``max_side``."""
    preview = image.copy()
    # reducing_gap: shrink by whole factors first (fast for photos), then resample the rest well.
    preview.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if preview.mode != "RGB":
        preview = preview.convert("RGB")
    buffer = io.BytesIO()
    if _WEBP:
        preview.save(buffer, format="WEBP", quality=QUALITY, method=4)
    else:
        preview.save(buffer, format="JPEG", quality=QUALITY, optimize=True)
    return Thumbnail(MEDIA_TYPE, buffer.getvalue())
