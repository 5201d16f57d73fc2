"""On-screen text with exact ground truth: known words rendered onto real frames and videos.

Two parts:

- *stills*: 1280x720 frames of the shared clips with 4 text items each, every item at a known
  height (10-80 px), font, style (outlined caption, box, translucent band, low contrast, bare
  colour, seven-segment LCD digits) and position;
- *low-resolution stills*: 320x240 frames (the size of the shared Obama clip) with 3 items each
  at 6-20 px, for the enlargement OCR applies to small frames before it detects text;
- *caption video*: static captions over moving, cut footage (1280x720, 25 fps), each visible
  over a known interval.

"Height" is the cap height in pixels: the height of a capital H in that font (for LCD digits,
the digit height), in the picture the OCR component analyses at its default max_side (1280x720,
or 320x240 for the low-resolution stills, which it does not scale).
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.eval.shots import encode
from bench.eval.sources import frames_of, still

WIDTH, HEIGHT = 1280, 720
VIDEO_FPS = 25
# Text heights (cap height, px). The goal is stated for 20 px and taller; below that is
# measured to say where reading stops.
HEIGHTS = (10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80)
SEED = 20261202
STILL_COUNT = 48
ITEMS_PER_STILL = 4
# Low-resolution stills: the heights a 320x240 clip's captions and credits have; below about
# 8 px the recogniser has too few pixels per stroke, which the set measures rather than assumes.
LOWRES_SIZE = (320, 240)
LOWRES_HEIGHTS = (6, 7, 8, 9, 10, 12, 14, 16, 20)
LOWRES_SEED = 20261203
LOWRES_COUNT = 24
LOWRES_ITEMS_PER_STILL = 3
LOWRES_JPEG_QUALITY = 60

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core / -extra
FONTS = {
    "sans": "DejaVuSans.ttf",
    "sans_bold": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "mono": "DejaVuSansMono.ttf",
    "condensed_oblique": "DejaVuSansCondensed-Oblique.ttf",
    "serif_bold_italic": "DejaVuSerif-BoldItalic.ttf",
}
# "lcd" is drawn as seven-segment digits (no font file): the kind of display an independent
# check found OCR not reading.
FONT_CYCLE = tuple(FONTS) + ("lcd",)
STYLES = ("outline", "box_dark", "box_light", "band", "low_contrast", "bare")
# Backgrounds: sources without on-screen text of their own, and where in them.
BACKGROUNDS = (("meadow", 3.0), ("grass", 1.0), ("bird", 2.0), ("tree", 4.0), ("whip", 1.8), ("bunny", 3.0), ("lectern", 1.0), ("car", 2.0))

WORDS = (
    "harbor market winter garden silver orange planet rocket summer ticket coffee window "
    "travel yellow castle forest simple pocket island bridge camera letter museum number "
    "office people police school street system theatre village weather doctor engine family "
    "friend health library minute mother nature player record season signal station stone "
    "story table today union valley water world "
    "ALWAYS BRIGHT CENTER DINNER ENERGY FUTURE GOLDEN HOTEL LIMITED MEMBER NATIONAL OPEN "
    "PERFECT QUALITY RADIO SALE SPECIAL STUDIO TOTAL UPDATE VISION WELCOME "
    "Morning Evening Breaking Central Northern Western Live Sunday Monday Report Weekend"
).split()
LCD_STRINGS = ("12:45", "0387", "25.6", "08:15", "1994", "73", "450", "21:09")


@dataclass
class TextItem:
    text: str
    height_px: int
    font: str
    style: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the ink (and its backing box, if any)

    @property
    def words(self) -> list[str]:
        return self.text.split()


def _font(name: str, cap_height: int) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / FONTS[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (Debian package fonts-dejavu-core / fonts-dejavu-extra)")
    probe = ImageFont.truetype(str(path), 200)
    x0, y0, x1, y1 = probe.getbbox("H")
    return ImageFont.truetype(str(path), max(4, round(cap_height * 200 / (y1 - y0))))


# Seven-segment digits: which of the segments a-g (a top, b top right, c bottom right, d bottom,
# e bottom left, f top left, g middle) each character lights.
_DIGITS = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
    "7": "abc", "8": "abcdefg", "9": "abcdfg", "-": "g",
}
# Digit width and the gap after it, as fractions of the digit height; ":" and "." are narrow.
LCD_DIGIT_WIDTH = 0.55
LCD_DIGIT_GAP = 0.2
LCD_PUNCT_WIDTH = 0.25


# The colour behind LCD digits per style (a band's is its blend over typical footage); no faint
# unlit segments in the low-contrast style, which is hard enough.
LCD_PANELS = {"outline": (20, 24, 20), "bare": (20, 24, 20), "box_dark": (16, 16, 16), "box_light": (245, 245, 240), "band": (20, 20, 70)}


def _lcd_size(text: str, height: int) -> tuple[int, int]:
    width = sum(height * (LCD_PUNCT_WIDTH if ch in ":." else LCD_DIGIT_WIDTH + LCD_DIGIT_GAP) for ch in text)
    return int(round(width - height * LCD_DIGIT_GAP * (text[-1] not in ":."))), height


def _segment_polygons(x: float, y: float, width: float, height: float, thick: float) -> dict[str, list]:
    """Hexagonal bars of one digit cell at (x, y), like a real seven-segment display."""
    h = thick / 2
    gap = max(1.0, thick / 4)
    left, right, top, mid, bottom = x + h, x + width - h, y + h, y + height / 2, y + height - h

    def across(yc: float) -> list:
        a, b = left + gap, right - gap
        return [(a, yc), (a + h, yc - h), (b - h, yc - h), (b, yc), (b - h, yc + h), (a + h, yc + h)]

    def down(xc: float, ya: float, yb: float) -> list:
        a, b = ya + gap, yb - gap
        return [(xc, a), (xc + h, a + h), (xc + h, b - h), (xc, b), (xc - h, b - h), (xc - h, a + h)]

    return {
        "a": across(top), "g": across(mid), "d": across(bottom),
        "f": down(left, top, mid), "b": down(right, top, mid),
        "e": down(left, mid, bottom), "c": down(right, mid, bottom),
    }


def _draw_lcd(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, height: int, on: tuple, off: tuple | None) -> None:
    """Seven-segment digits; ``off`` draws the unlit segments faintly, as real LCDs show them."""
    thick = max(2.0, height / 8)
    cx = float(x)
    for ch in text:
        if ch in ":.":
            r = thick / 2
            px = cx + height * LCD_PUNCT_WIDTH / 2 - height * LCD_DIGIT_GAP / 2
            dots = [y + height * 0.3, y + height * 0.7] if ch == ":" else [y + height - r]
            for py in dots:
                draw.ellipse([px - r, py - r, px + r, py + r], fill=on)
            cx += height * LCD_PUNCT_WIDTH
            continue
        lit = _DIGITS[ch]
        for name, polygon in _segment_polygons(cx, y, height * LCD_DIGIT_WIDTH, height, thick).items():
            colour = on if name in lit else off
            if colour is not None:
                draw.polygon(polygon, fill=colour)
        cx += height * (LCD_DIGIT_WIDTH + LCD_DIGIT_GAP)


def _measure(item_text: str, font_name: str, height: int) -> tuple[int, int, int, int]:
    """Ink box (x0, y0, x1, y1) of the text drawn at the origin."""
    if font_name == "lcd":
        w, h = _lcd_size(item_text, height)
        return 0, 0, w, h
    return _font(font_name, height).getbbox(item_text)


def _mean_colour(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return image[max(0, y0) : y1, max(0, x0) : x1].reshape(-1, 3).mean(axis=0)


def draw_item(canvas: Image.Image, base: np.ndarray, text: str, font_name: str, height: int, style: str, x: int, y: int) -> tuple[int, int, int, int]:
    """Draw one item with its ink's top-left at (x, y); returns the box it covers (with padding)."""
    bx0, by0, bx1, by1 = _measure(text, font_name, height)
    ox, oy = x - bx0, y - by0  # PIL draws relative to the text origin, not the ink's corner
    ink = (x, y, x + bx1 - bx0, y + by1 - by0)
    pad = max(3, height // 3)
    padded = (ink[0] - pad, ink[1] - pad, ink[2] + pad, ink[3] + pad)
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    stroke = 0
    if style == "outline":
        fill, stroke_fill, stroke = (255, 255, 255, 255), (0, 0, 0, 255), max(1, height // 10)
    elif style == "box_dark":
        draw.rectangle(padded, fill=(16, 16, 16, 255))
        fill = (255, 255, 255, 255)
    elif style == "box_light":
        draw.rectangle(padded, fill=(245, 245, 240, 255))
        fill = (10, 10, 10, 255)
    elif style == "band":  # a news lower-third: translucent dark band, light text
        draw.rectangle(padded, fill=(0, 0, 80, 150))
        fill = (255, 230, 120, 255)
    elif style == "low_contrast":  # grey on a slightly different grey (WCAG contrast about 2:1)
        draw.rectangle(padded, fill=(96, 96, 96, 255))
        fill = (165, 165, 165, 255)
    elif style == "bare":  # no outline or box: the colour farthest from the picture behind it
        mean = _mean_colour(base, padded)
        fill = (255, 255, 255, 255) if mean.mean() < 110 else (0, 0, 0, 255)
    else:
        raise ValueError(style)
    if font_name == "lcd":
        if style in ("outline", "bare"):
            draw.rectangle(padded, fill=(20, 24, 20, 255))
            fill = (90, 255, 120, 255)
        # Unlit segments: 15 % of the way from the panel's colour to the lit colour.
        panel = LCD_PANELS.get(style)
        off = None if panel is None else tuple(int(round(p + 0.15 * (c - p))) for p, c in zip(panel, fill[:3])) + (255,)
        _draw_lcd(draw, x, y, text, height, fill, off)
    else:
        font = _font(font_name, height)
        if stroke:
            draw.text((ox, oy), text, font=font, fill=fill, stroke_width=stroke, stroke_fill=stroke_fill)
        else:
            draw.text((ox, oy), text, font=font, fill=fill)
    canvas.alpha_composite(overlay)
    return padded


def _overlaps(box, boxes, margin: int = 12) -> bool:
    return any(not (box[2] + margin < b[0] or b[2] + margin < box[0] or box[3] + margin < b[1] or b[3] + margin < box[1]) for b in boxes)


def _item_text(rng: np.random.Generator, font: str) -> str:
    if font == "lcd":
        return str(rng.choice(LCD_STRINGS))
    count = int(rng.integers(1, 4))
    return " ".join(str(w) for w in rng.choice(WORDS, size=count, replace=False))


@functools.lru_cache(maxsize=2 * len(BACKGROUNDS))
def _background(source: str, at: float, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    image = still(source, at, width, height)
    image.flags.writeable = False
    return image


def stills(
    count: int = STILL_COUNT,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    heights: tuple[int, ...] = HEIGHTS,
    items_per_still: int = ITEMS_PER_STILL,
    seed: int = SEED,
) -> list[tuple[np.ndarray, list[TextItem]]]:
    """``count`` frames of ``size`` with their text items; the first images cycle fastest through
    heights, fonts and styles, so a slice of the set still spans them."""
    width, height_px = size
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        source, at = BACKGROUNDS[i % len(BACKGROUNDS)]
        base = _background(source, at, width, height_px)
        canvas = Image.fromarray(base).convert("RGBA")
        items: list[TextItem] = []
        boxes: list[tuple[int, int, int, int]] = []
        for j in range(items_per_still):
            k = i * items_per_still + j
            height = heights[k % len(heights)]
            font = FONT_CYCLE[(k // len(heights) + j) % len(FONT_CYCLE)]
            style = STYLES[(k + i) % len(STYLES)]
            for _ in range(200):
                text = _item_text(rng, font)
                x0, y0, x1, y1 = _measure(text, font, height)
                w, h = x1 - x0, y1 - y0
                pad = max(3, height // 3) + 4
                if w + 2 * pad >= width or h + 2 * pad >= height_px:
                    continue
                x = int(rng.integers(pad, width - w - pad))
                y = int(rng.integers(pad, height_px - h - pad))
                if not _overlaps((x - pad, y - pad, x + w + pad, y + h + pad), boxes):
                    break
            else:
                raise RuntimeError(f"no room for item {j} of still {i}")
            box = draw_item(canvas, base, text, font, height, style, x, y)
            boxes.append(box)
            items.append(TextItem(text, height, font, style, tuple(int(v) for v in box)))
        out.append((np.asarray(canvas.convert("RGB")), items))
    return out


def lowres_stills(count: int = LOWRES_COUNT) -> list[tuple[np.ndarray, list[TextItem]]]:
    """``count`` 320x240 frames with small text (6-20 px), as a low-resolution clip shows it:
    through lossy compression (JPEG at LOWRES_JPEG_QUALITY), which blurs small glyphs' edges as
    a small clip's encoder does."""
    out = []
    for image, items in stills(count, LOWRES_SIZE, LOWRES_HEIGHTS, LOWRES_ITEMS_PER_STILL, LOWRES_SEED):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=LOWRES_JPEG_QUALITY)
        out.append((np.asarray(Image.open(buffer).convert("RGB")), items))
    return out


@dataclass(frozen=True)
class Caption:
    text: str
    height_px: int
    font: str
    style: str
    x: int
    y: int
    start_s: float
    end_s: float


# Footage for the caption video: real shots with real cuts between them (seconds of each).
CAPTION_FOOTAGE = (("meadow", 0.5, 6.0), ("whip", 0.0, 2.3), ("bunny", 0.5, 4.5), ("tree", 1.0, 4.0), ("grass", 0.2, 3.2))
CAPTIONS = (
    Caption("Morning Market Report", 24, "sans_bold", "outline", 40, 40, 0.0, 20.0),
    Caption("CITY COUNCIL APPROVES BUDGET", 32, "sans_bold", "band", 140, 600, 2.0, 9.0),
    Caption("08:15", 56, "lcd", "outline", 1080, 36, 4.0, 16.0),
    Caption("we will be right back", 40, "sans", "outline", 380, 560, 11.0, 17.0),
    Caption("www example com", 16, "mono", "box_dark", 1040, 680, 12.0, 20.0),
    Caption("Sunday Weekend SPECIAL", 20, "serif", "bare", 60, 320, 7.0, 13.0),
)


def caption_video() -> Iterator[np.ndarray]:
    """The caption video's frames (1280x720, 25 fps), one at a time (20 s of 720p RGB would be
    1.4 GB at once)."""
    layers = []
    for caption in CAPTIONS:
        layer = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
        first_source, at, _ = CAPTION_FOOTAGE[0]
        # "bare" picks its colour from the picture behind it: the first frame of the footage.
        draw_item(layer, _background(first_source, at), caption.text, caption.font, caption.height_px, caption.style, caption.x, caption.y)
        x0, y0, x1, y1 = layer.getbbox()
        rgba = np.asarray(layer)[y0:y1, x0:x1].astype(np.float32)
        layers.append((caption, (x0, y0, x1, y1), rgba[..., :3], rgba[..., 3:4] / 255.0))
    index = 0
    for name, start, seconds in CAPTION_FOOTAGE:
        for frame in frames_of(name, start, int(round(seconds * VIDEO_FPS)), VIDEO_FPS, WIDTH, HEIGHT):
            t = index / VIDEO_FPS
            # Each caption is one fixed layer laid over its frames, so it is pixel-identical in
            # every frame (static) whatever moves behind it.
            for caption, (x0, y0, x1, y1), rgb, alpha in layers:
                if caption.start_s <= t < caption.end_s:
                    region = frame[y0:y1, x0:x1]
                    frame[y0:y1, x0:x1] = (region * (1 - alpha) + rgb * alpha).round().astype(np.uint8)
            index += 1
            yield frame


def caption_video_duration_s() -> float:
    return sum(int(round(seconds * VIDEO_FPS)) for _, _, seconds in CAPTION_FOOTAGE) / VIDEO_FPS


def build(out_dir: Path, still_count: int = STILL_COUNT, video: bool = True) -> dict:
    """Write the stills (PNG) and the caption video with ``text_truth.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    (out_dir / "text").mkdir(parents=True, exist_ok=True)
    truth: dict = {"stills": [], "lowres_stills": [], "caption_video": None, "height_definition": "cap height in px in the still"}
    for key, prefix, images in (("stills", "still", stills(still_count)), ("lowres_stills", "lowres", lowres_stills())):
        for i, (image, items) in enumerate(images):
            name = f"text/{prefix}_{i:03d}.png"
            Image.fromarray(image).save(out_dir / name)
            truth[key].append({"image": name, "items": [asdict(item) for item in items]})
    if video:
        encode(caption_video(), out_dir / "text" / "captions.mp4", fps=VIDEO_FPS, size=(WIDTH, HEIGHT))
        truth["caption_video"] = {
            "video": "text/captions.mp4",
            "fps": VIDEO_FPS,
            "duration_s": caption_video_duration_s(),
            "captions": [asdict(c) for c in CAPTIONS],
        }
    (out_dir / "text_truth.json").write_text(json.dumps(truth, indent=1))
    return truth
