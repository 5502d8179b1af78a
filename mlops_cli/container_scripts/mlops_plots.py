"""The evaluation charts as PNG files, with numpy, zlib and struct only: ROC, precision-recall, calibration and
confusion matrix (classification), predicted vs actual and residuals (regression).

matplotlib is not installed in SageMaker's scikit-learn images (their requirements list numpy, scipy, pandas,
pyarrow and scikit-learn), and a processing job must not pip-install at run time. The charts need little: lines,
filled rectangles, translucent dots and upper-case text from a 5x7 bitmap font, on an RGB canvas encoded as an
8-bit truecolour PNG.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
GREY: Color = (150, 150, 150)
BLUE: Color = (31, 119, 180)
ORANGE: Color = (255, 127, 14)
LIGHT: Color = (198, 219, 239)

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

    def dots(self, xs: np.ndarray, ys: np.ndarray, color: Color, radius: int = 2, alpha: float = 0.35) -> None:
        """Square dots that darken where they pile up: thousands of points stay readable as a density."""
        hits = np.zeros((self.height, self.width))
        xi, yi = np.rint(xs).astype(int), np.rint(ys).astype(int)
        for dx in range(-radius, radius + 1):
            for dy in range(-radius, radius + 1):
                px, py = xi + dx, yi + dy
                inside = (px >= 0) & (px < self.width) & (py >= 0) & (py < self.height)
                np.add.at(hits, (py[inside], px[inside]), 1)
        touched = hits > 0
        strength = (1 - (1 - alpha) ** hits[touched])[:, None]
        mixed = self.pixels[touched] * (1 - strength) + np.asarray(color, dtype=float) * strength
        self.pixels[touched] = np.rint(mixed).astype(np.uint8)

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


MAX_LABEL = 20  # characters of a class name a chart shows
CONFUSION_GRID = 600  # pixels the cells of a 4+ class matrix share (160 at most each)
MIN_CELL = 24


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 2] + ".."


def _text_width(text: str, scale: int = 2) -> int:
    return len(text) * 6 * scale


def _count_scale(count: int, cell: int) -> int:
    """The largest text scale (at most 4) at which the count fits inside its cell."""
    for scale in (4, 3, 2):
        if _text_width(str(count), scale) <= cell - 6 and 7 * scale <= cell - 6:
            return scale
    return 1


def confusion_chart(matrix: list[list[int]], labels: list[str], threshold: float | None = None) -> bytes:
    """A square grid (rows = actual, columns = predicted) shaded by count, each cell with its count and, when
    there is room, its share of all rows. Cells are 160 pixels up to three classes (two give the 520x500 chart);
    more classes share CONFUSION_GRID pixels (at least MIN_CELL per cell), and column labels too wide for their
    cell turn upright. A threshold (binary) goes into the title, else the row count."""
    n = len(labels)
    names = [_short(str(label)) for label in labels]
    cell = max(min(160, CONFUSION_GRID // n), MIN_CELL)
    label_scale = 2 if cell >= 16 else 1
    widest = max(_text_width(name, label_scale) for name in names)
    upright = widest > cell - 8
    left = max(150, widest + 70)  # room for the row labels right of the axis title
    top = 90
    below = widest + 20 if upright else 0
    grid = n * cell
    total = max(sum(sum(row) for row in matrix), 1)
    title = f"confusion matrix (threshold {threshold})" if threshold is not None else f"confusion matrix (n = {total})"
    width = max(left + grid + 50, _text_width(title) + 40)
    canvas = Canvas(width, top + grid + below + 90)
    largest = max(max(row) for row in matrix) or 1
    scale = _count_scale(largest, cell)  # one size for every count
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            x, y = left + c * cell, top + r * cell
            shade = count / largest
            canvas.rect(x, y, x + cell, y + cell, _tint(BLUE, shade))
            ink = WHITE if shade > 0.5 else BLACK
            if cell >= 100:
                canvas.text(x + cell // 2, y + cell // 2 - 24, str(count), ink, scale=scale, anchor="center")
                canvas.text(x + cell // 2, y + cell // 2 + 16, f"{count / total:.1%}", ink, anchor="center")
            else:
                canvas.text(x + cell // 2, y + (cell - 7 * scale) // 2, str(count), ink, scale=scale, anchor="center")
        canvas.text(
            left - 12, top + r * cell + (cell - 7 * label_scale) // 2, names[r], scale=label_scale, anchor="right"
        )
    for c, name in enumerate(names):
        if upright:  # reads upwards, its end at the grid
            mask = np.rot90(text_mask(name, label_scale))
            canvas.paint(mask, left + c * cell + (cell - mask.shape[1]) // 2, top + grid + 10, BLACK, "left")
        else:
            canvas.text(left + c * cell + cell // 2, top + grid + 10, name, scale=label_scale, anchor="center")
    canvas.line(left, top, left + grid, top, BLACK, width=2)
    canvas.line(left, top + grid, left + grid, top + grid, BLACK, width=2)
    canvas.line(left, top, left, top + grid, BLACK, width=2)
    canvas.line(left + grid, top, left + grid, top + grid, BLACK, width=2)
    canvas.text(canvas.width // 2, 20, title, anchor="center")
    canvas.text(left + grid // 2, top + grid + below + 40, "predicted", anchor="center")
    canvas.vertical_text(30, top + grid // 2, "actual")
    return canvas.png()


def precision_recall_chart(
    recall: list[float], precision: list[float], average_precision: float, positive_rate: float, rows: int
) -> bytes:
    """Precision against recall over the no-skill line (precision = the positive rate), the average precision in
    the title."""
    canvas, left, top, size = Canvas(600, 580), 100, 70, 440
    _axes(canvas, left, top, size)
    baseline = top + size - positive_rate * size
    canvas.dashed_line(left, baseline, left + size, baseline, GREY)
    xs = left + np.asarray(recall, dtype=float) * size
    ys = top + size - np.asarray(precision, dtype=float) * size
    for i in range(len(xs) - 1):
        canvas.line(xs[i], ys[i], xs[i + 1], ys[i + 1], BLUE, width=3)
    canvas.text(canvas.width // 2, 20, f"precision-recall - AP = {average_precision:.4f} (n = {rows})", anchor="center")
    canvas.text(left + size // 2, top + size + 40, "recall", anchor="center")
    canvas.vertical_text(20, top + size // 2, "precision")
    return canvas.png()


def calibration_chart(bins: list[dict[str, Any]], positive_label: str, rows: int) -> bytes:
    """Observed rate of the positive class against the mean predicted probability, per probability bin, over the
    diagonal of a perfectly calibrated model; light bars along the bottom show each bin's share of the rows."""
    canvas, left, top, size = Canvas(600, 580), 100, 70, 440
    most = max((b["rows"] for b in bins), default=0) or 1
    for b in bins:  # behind the grid: at most a quarter of the height
        height = round(size * 0.25 * b["rows"] / most)
        canvas.rect(
            round(left + b["lower"] * size) + 2,
            top + size - height,
            round(left + b["upper"] * size) - 1,
            top + size,
            LIGHT,
        )
    _axes(canvas, left, top, size)
    canvas.dashed_line(left, top + size, left + size, top, GREY)
    xs = left + np.asarray([b["mean_predicted"] for b in bins], dtype=float) * size
    ys = top + size - np.asarray([b["observed_rate"] for b in bins], dtype=float) * size
    for i in range(len(xs) - 1):
        canvas.line(xs[i], ys[i], xs[i + 1], ys[i + 1], BLUE, width=3)
    for i in range(len(xs)):
        canvas.rect(round(xs[i]) - 5, round(ys[i]) - 5, round(xs[i]) + 6, round(ys[i]) + 6, BLUE)
    canvas.text(canvas.width // 2, 20, f"calibration - {len(bins)} bins with rows (n = {rows})", anchor="center")
    canvas.text(left + size // 2, top + size + 40, "mean predicted probability", anchor="center")
    canvas.vertical_text(20, top + size // 2, f"observed share of {_short(positive_label)}")
    return canvas.png()


def nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high <= low:  # a single value: a unit (or 10%) window around it
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start, stop = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return np.arange(start, stop + 1) * step


def tick_label(value: float, step: float) -> str:
    """A tick's text with as many decimals as its step needs: 0.25, 1.5, 1200; 1.5E+06 for the very large."""
    if abs(value) < step * 1e-9:
        value = 0.0
    if max(abs(value), step) >= 1e6 or step < 1e-3:
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if not math.isclose(round(step, decimals), step, rel_tol=1e-9):  # 2.5, 0.25: one digit more
        decimals += 1
    return f"{value:.{decimals}f}"


class _Frame:
    """A rectangular plot area mapping data values to pixels, with a grid and tick labels drawn around it."""

    def __init__(self, top: int, size: tuple[int, int], xticks: np.ndarray, yticks: np.ndarray) -> None:
        self.top, (self.width, self.height) = top, size
        self.xticks, self.yticks = xticks, yticks
        self.xlabels = [tick_label(v, float(xticks[1] - xticks[0])) for v in xticks]
        self.ylabels = [tick_label(v, float(yticks[1] - yticks[0])) for v in yticks]
        self.left = 50 + max(_text_width(label) for label in self.ylabels)  # the y tick labels and axis title

    def canvas(self) -> Canvas:
        """A canvas that fits the plot area, its labels and the two title lines."""
        return Canvas(self.left + self.width + 50, self.top + self.height + 80)

    def x(self, values: np.ndarray) -> np.ndarray:
        low, high = float(self.xticks[0]), float(self.xticks[-1])
        return self.left + (np.asarray(values, dtype=float) - low) / (high - low) * self.width

    def y(self, values: np.ndarray) -> np.ndarray:
        low, high = float(self.yticks[0]), float(self.yticks[-1])
        return self.top + self.height - (np.asarray(values, dtype=float) - low) / (high - low) * self.height

    def draw(self, canvas: Canvas, xtitle: str, ytitle: str) -> None:
        left, top, right, bottom = self.left, self.top, self.left + self.width, self.top + self.height
        for i, label in enumerate(self.xlabels):  # (no zip: strict= is Python 3.10, the image runs 3.9)
            x = float(self.x(self.xticks[i : i + 1])[0])
            canvas.line(x, top, x, bottom, GRID)
            canvas.text(round(x), bottom + 10, label, anchor="center")
        for i, label in enumerate(self.ylabels):
            y = float(self.y(self.yticks[i : i + 1])[0])
            canvas.line(left, y, right, y, GRID)
            canvas.text(left - 8, round(y) - 7, label, anchor="right")
        canvas.text((left + right) // 2, bottom + 40, xtitle, anchor="center")
        canvas.vertical_text(14, (top + bottom) // 2, ytitle)

    def border(self, canvas: Canvas) -> None:
        left, top, right, bottom = self.left, self.top, self.left + self.width, self.top + self.height
        for x0, y0, x1, y1 in (
            (left, top, right, top),
            (left, bottom, right, bottom),
            (left, top, left, bottom),
            (right, top, right, bottom),
        ):
            canvas.line(x0, y0, x1, y1, BLACK, width=2)


def _titles(canvas: Canvas, title: str, subtitle: str) -> None:
    canvas.text(canvas.width // 2, 14, title, anchor="center")
    canvas.text(canvas.width // 2, 40, subtitle, anchor="center")


def _finite(*arrays: Sequence[float]) -> list[np.ndarray]:
    values = [np.asarray(a, dtype=float) for a in arrays]
    keep = np.logical_and.reduce([np.isfinite(v) for v in values])
    return [v[keep] for v in values]


def predicted_vs_actual_chart(
    actual: Sequence[float], predicted: Sequence[float], metrics: dict[str, float | None]
) -> bytes:
    """Each test row as a dot at (actual, predicted) on equal axes; a perfect model puts them all on the dashed
    diagonal."""
    actual_values, predicted_values = _finite(actual, predicted)
    everything = np.concatenate([actual_values, predicted_values])
    low, high = (float(everything.min()), float(everything.max())) if len(everything) else (0.0, 1.0)
    ticks = nice_ticks(low, high)
    frame = _Frame(80, (440, 440), ticks, ticks)
    canvas = frame.canvas()
    frame.draw(canvas, "actual", "predicted")
    canvas.dashed_line(frame.left, frame.top + 440, frame.left + 440, frame.top, GREY)
    canvas.dots(frame.x(actual_values), frame.y(predicted_values), BLUE)
    frame.border(canvas)
    _titles(canvas, f"predicted vs actual (n = {len(actual_values)})", _metric_text(metrics))
    return canvas.png()


def residuals_chart(actual: Sequence[float], predicted: Sequence[float], metrics: dict[str, float | None]) -> bytes:
    """Each test row's residual (actual - predicted) against its prediction, around the dashed zero line: a trend or
    a funnel shows what the model misses."""
    actual_values, predicted_values = _finite(actual, predicted)
    residuals = actual_values - predicted_values
    low, high = (float(predicted_values.min()), float(predicted_values.max())) if len(residuals) else (0.0, 1.0)
    reach = float(np.abs(residuals).max()) if len(residuals) else 1.0
    xticks, yticks = nice_ticks(low, high), nice_ticks(-reach, reach)
    frame = _Frame(80, (480, 400), xticks, yticks)
    canvas = frame.canvas()
    frame.draw(canvas, "predicted", "residual (actual - predicted)")
    zero = float(frame.y(np.array([0.0]))[0])
    canvas.dashed_line(frame.left, zero, frame.left + 480, zero, GREY)
    canvas.dots(frame.x(predicted_values), frame.y(residuals), ORANGE)
    frame.border(canvas)
    _titles(canvas, f"residuals (n = {len(residuals)})", _metric_text(metrics))
    return canvas.png()


def _metric_text(metrics: dict[str, float | None]) -> str:
    shown = [f"{name} = {value:.4g}" for name, value in metrics.items() if value is not None and math.isfinite(value)]
    return "   ".join(shown)
