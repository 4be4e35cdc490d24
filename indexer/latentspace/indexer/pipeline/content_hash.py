"""The hash of an item's source content: what a re-run compares to decide whether to encode again.

It covers everything that makes the stored item: the kind of content, the content itself (the text,
the image file's bytes, the vector's float32 bytes), the payload and the content reference. Two
runs over an unchanged source give the same hashes, so a re-run (or a run resumed after a kill)
skips every item whose id already holds its hash, and re-encodes an item whose text, image, vector
or payload changed. The model is not part of it: a collection holds one model's vectors only.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from latentspace.indexer.ingest import NewItem

#: Bytes of digest (128 bits): collisions are out of reach for any corpus.
DIGEST_BYTES = 16


def item_hash(item: NewItem) -> str:
    """A hex digest of ``item``'s content, payload and content reference."""
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    if item.text is not None:
        digest.update(b"text\0" + str(item.text).encode("utf-8", "surrogatepass"))
    elif item.image is not None:
        digest.update(b"image\0" + bytes(item.image))
    elif item.vector is not None:
        digest.update(b"vector\0" + np.ascontiguousarray(item.vector, dtype="<f4").tobytes())
    # default=repr: a payload the checks will refuse still gets a hash (it is never stored).
    payload = json.dumps(item.payload, sort_keys=True, ensure_ascii=False, default=repr, allow_nan=True)
    digest.update(b"\0payload\0" + payload.encode("utf-8", "surrogatepass"))
    digest.update(b"\0ref\0" + str(item.content_ref).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
