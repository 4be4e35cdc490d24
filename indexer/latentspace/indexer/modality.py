"""What kind of content a point came from."""

from __future__ import annotations

from enum import Enum


class Modality(str, Enum):
    TEXT = "text"
    IMAGE = "image"
    VECTOR = "vector"
