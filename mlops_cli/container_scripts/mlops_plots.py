"""The evaluation charts (ROC curve, confusion matrix) as PNG files, with numpy, zlib and struct only.

matplotlib is not installed in SageMaker's scikit-learn images (their requirements list numpy, scipy, pandas,
pyarrow and scikit-learn), and a processing job must not pip-install at run time. The charts need little: lines,
filled rectangles and upper-case text from a 5x7 bitmap font, on an RGB canvas encoded as an 8-bit truecolour PNG.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
GREY: Color = (150, 150, 150)
BLUE: Color = (31, 119, 180)

# 5x7 glyphs: one 5-bit row per line, top to bottom, the most significant bit leftmost.
FONT: dict[str, tuple[int, ...]] = {
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    " ": (0, 0, 0, 0, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
}


def text_mask(text: str, scale: int) -> np.ndarray:
    """The text as a boolean bitmap (upper case: the font has no lower case), one blank column between glyphs."""
    glyphs = []
    for char in text.upper():
        rows = FONT.get(char, FONT["?"])
        bits = np.array([[(row >> (4 - col)) & 1 for col in range(5)] + [0] for row in rows], dtype=bool)
        glyphs.append(bits)
    mask = np.concatenate(glyphs, axis=1) if glyphs else np.zeros((7, 0), dtype=bool)
    return np.kron(mask, np.ones((scale, scale), dtype=bool))


class Canvas:
    """An RGB image with the few drawing operations the charts use; coordinates are (x, y), y downwards."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255, dtype=np.uint8)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill [x0, x1) x [y0, y1)."""
        self.pixels[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1) -> None:
        steps = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 2
        xs = np.rint(np.linspace(x0, x1, steps)).astype(int)
        ys = np.rint(np.linspace(y0, y1, steps)).astype(int)
        low = -(width // 2)
        for dx in range(low, low + width):
            for dy in range(low, low + width):
                px, py = xs + dx, ys + dy
                inside = (px >= 0) & (px < self.width) & (py >= 0) & (py < self.height)
                self.pixels[py[inside], px[inside]] = color

    def dashed_line(self, x0: float, y0: float, x1: float, y1: float, color: Color, dash: int = 8) -> None:
        length = max(abs(x1 - x0), abs(y1 - y0))
        pieces = max(int(length // dash), 1)
        for i in range(0, pieces, 2):
            a, b = i / pieces, min(i + 1, pieces) / pieces
            self.line(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a, x0 + (x1 - x0) * b, y0 + (y1 - y0) * b, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2, anchor: str = "left") -> None:
        """Draw text with its top at y; anchor says whether x is its left edge, centre or right edge."""
        self.paint(text_mask(text, scale), x, y, color, anchor)

    def vertical_text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        """Text reading upwards (an y-axis title), centred on y, its left edge at x."""
        mask = np.rot90(text_mask(text, scale))
        self.paint(mask, x, y - mask.shape[0] // 2, color, "left")

    def paint(self, mask: np.ndarray, x: int, y: int, color: Color, anchor: str) -> None:
        height, width = mask.shape
        left = {"left": x, "center": x - width // 2, "right": x - width}[anchor]
        region = self.pixels[y : y + height, left : left + width]
        region[mask[: region.shape[0], : region.shape[1]]] = color

    def png(self) -> bytes:
        return encode_png(self.pixels)


def encode_png(pixels: np.ndarray) -> bytes:
    """An RGB uint8 array (height, width, 3) as PNG: 8-bit truecolour, no interlace, filter 0 on every row."""
    height, width, _ = pixels.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), pixels.reshape(height, width * 3)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _axes(canvas: Canvas, left: int, top: int, size: int) -> None:
    """A square unit plot area with a grid and tick labels every 0.2."""
    for i in range(6):
        offset = round(size * i / 5)
        label = f"{i / 5:.1f}"
        canvas.line(left + offset, top, left + offset, top + size, GRID)
        canvas.line(left, top + size - offset, left + size, top + size - offset, GRID)
        canvas.text(left + offset, top + size + 10, label, anchor="center")
        canvas.text(left - 8, top + size - offset - 7, label, anchor="right")
    for x0, y0, x1, y1 in ((0, 0, size, 0), (0, size, size, size), (0, 0, 0, size), (size, 0, size, size)):
        canvas.line(left + x0, top + y0, left + x1, top + y1, BLACK, width=2)


def roc_chart(fpr: list[float], tpr: list[float], auc: float, rows: int) -> bytes:
    """The ROC curve over the chance diagonal, the AUC in the title."""
    canvas, left, top, size = Canvas(600, 580), 100, 70, 440
    _axes(canvas, left, top, size)
    canvas.dashed_line(left, top + size, left + size, top, GREY)
    xs = left + np.asarray(fpr, dtype=float) * size
    ys = top + size - np.asarray(tpr, dtype=float) * size
    for i in range(len(xs) - 1):
        canvas.line(xs[i], ys[i], xs[i + 1], ys[i + 1], BLUE, width=3)
    canvas.text(canvas.width // 2, 20, f"ROC curve - AUC = {auc:.4f} (n = {rows})", anchor="center")
    canvas.text(left + size // 2, top + size + 40, "false positive rate", anchor="center")
    canvas.vertical_text(20, top + size // 2, "true positive rate")
    return canvas.png()


def _tint(color: Color, strength: float) -> Color:
    """The color mixed with white: strength 0 is white, 1 the color itself."""
    red, green, blue = (round(255 + (channel - 255) * strength) for channel in color)
    return (red, green, blue)


def confusion_chart(matrix: list[list[int]], labels: list[str], threshold: float) -> bytes:
    """A 2x2 grid shaded by count, each cell with its count and share of all rows."""
    canvas, left, top, cell = Canvas(520, 500), 150, 90, 160
    total = max(sum(sum(row) for row in matrix), 1)
    largest = max(max(row) for row in matrix) or 1
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            x, y = left + c * cell, top + r * cell
            shade = count / largest
            canvas.rect(x, y, x + cell, y + cell, _tint(BLUE, shade))
            ink = WHITE if shade > 0.5 else BLACK
            canvas.text(x + cell // 2, y + cell // 2 - 24, str(count), ink, scale=4, anchor="center")
            canvas.text(x + cell // 2, y + cell // 2 + 16, f"{count / total:.1%}", ink, anchor="center")
        canvas.text(left - 12, top + r * cell + cell // 2 - 7, labels[r], anchor="right")
    for c, label in enumerate(labels):
        canvas.text(left + c * cell + cell // 2, top + 2 * cell + 10, label, anchor="center")
    canvas.line(left, top, left + 2 * cell, top, BLACK, width=2)
    canvas.line(left, top + 2 * cell, left + 2 * cell, top + 2 * cell, BLACK, width=2)
    canvas.line(left, top, left, top + 2 * cell, BLACK, width=2)
    canvas.line(left + 2 * cell, top, left + 2 * cell, top + 2 * cell, BLACK, width=2)
    canvas.text(canvas.width // 2, 20, f"confusion matrix (threshold {threshold})", anchor="center")
    canvas.text(left + cell, top + 2 * cell + 40, "predicted", anchor="center")
    canvas.vertical_text(30, top + cell, "actual")
    return canvas.png()
