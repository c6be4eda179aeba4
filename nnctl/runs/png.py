"""A minimal PNG encoder (zlib + struct), so looking at examples needs no plotting library.

8-bit grayscale (colour type 0) or RGB (colour type 2), no interlacing, every
scanline with filter type 0: the smallest subset of the PNG specification that
every viewer reads. Chunks are length, type, data, CRC-32 of type + data.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 3: 2}  # channels → PNG colour type: grayscale, truecolour


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an (H, W), (H, W, 1) or (H, W, 3) uint8 array."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in COLOUR_TYPES:
        raise ValueError(f"expected uint8 pixels of shape (H, W[, 1|3]), got {pixels.dtype} {pixels.shape}")
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * channels)], axis=1)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def to_pixels(image: np.ndarray, low: float, high: float, scale: int = 1) -> np.ndarray:
    """Map raw values in [low, high] to 0..255 and enlarge each pixel to a scale × scale block."""
    span = high - low if high > low else 1.0
    pixels = np.clip(np.rint((np.asarray(image, np.float64) - low) / span * 255), 0, 255).astype(np.uint8)
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1)
