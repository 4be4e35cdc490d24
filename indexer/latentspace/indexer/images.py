"""Decoding image bytes sent by callers, safely.

The pixel count is read from the header and checked before any pixel data is decompressed, so a
small file that expands to gigabytes (a decompression bomb) is refused without being loaded. Only
plain raster formats are accepted: Pillow would otherwise hand e.g. EPS to an external interpreter.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.limits import RequestBudget

#: Formats a caller may send. Everything else is refused before Pillow picks a plugin for it.
ACCEPTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def decode_image(data: bytes, *, max_pixels: int, field: str = "query.image",
                 budget: RequestBudget | None = None) -> Image.Image:
    """Decode image bytes into an RGB :class:`PIL.Image.Image`.

    Raises :class:`InvalidInput` for empty or undecodable bytes and :class:`LimitExceeded` when the
    image has more than ``max_pixels`` pixels, or more than ``budget`` has left for its request
    (both checked from the header, before decompression).
    Multi-frame images (GIF, TIFF) give their first frame; transparency is dropped as open_clip's
    own preprocessing does, so a query encodes like the same file indexed from disk.
    """
    if not data:
        raise InvalidInput("image bytes are empty; send an encoded PNG, JPEG, WebP, GIF, BMP or TIFF",
                           field=field)
    try:
        # Our own limit is the guard; Pillow's global bomb warning would only duplicate it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InvalidInput(f"image has an empty size {width}x{height}", field=field)
            if width * height > max_pixels:
                raise LimitExceeded(
                    f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
                    "(max_image_pixels); send a smaller image",
                    field=field,
                )
            if budget is not None:
                budget.spend_pixels(width * height, field)
            image.load()
            return image.convert("RGB")
    except Image.DecompressionBombError as e:
        # Only reachable when max_pixels is above Pillow's own hard limit.
        raise LimitExceeded(f"image is too large to decode safely: {e}", field=field) from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        # Pillow signals truncated or corrupt data with any of these.
        raise InvalidInput(
            f"cannot decode the image bytes ({type(e).__name__}: {e}); accepted formats: "
            f"{', '.join(ACCEPTED_FORMATS)}",
            field=field,
        ) from e
