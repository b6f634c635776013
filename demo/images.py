"""Procedural images for the demo, the tests and the match test set (bench/match_testset.py): no licence to check.

Each seed gives a different picture of coloured shapes on a gradient (like a flat-shaded illustration), the same
on every machine; `transform` applies the test set's transformations.
"""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

__all__ = ["procedural_image", "transform", "TRANSFORMS", "image_bytes"]


def procedural_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = random.Random(seed)
    width, height = size
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    for _ in range(rng.randrange(6, 14)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(width // 8, width // 2), y0 + rng.randrange(height // 8, height // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice(("rectangle", "ellipse", "pieslice"))
        if shape == "pieslice":
            draw.pieslice([x0, y0, x1, y1], rng.randrange(360), rng.randrange(360), fill=colour)
        else:
            getattr(draw, shape)([x0, y0, x1, y1], fill=colour)
    return image


def image_bytes(image: Image.Image, format: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def _crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * fraction / 2), int(h * fraction / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def _overlay_text(image: Image.Image) -> Image.Image:
    image = image.copy()
    draw = ImageDraw.Draw(image)
    w, h = image.size
    draw.rectangle([0, int(h * 0.85), w, h], fill=(0, 0, 0))
    draw.text((10, int(h * 0.88)), "© scraped-site.example  #fanart  1920x1080", fill=(255, 255, 255))
    return image


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(image_bytes(image, "JPEG", quality=quality))).convert("RGB")


TRANSFORMS = {
    "resize-50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "jpeg-q30": lambda im: _jpeg(im, 30),
    "crop-10%": lambda im: _crop(im, 0.10),
    "colour-shift": lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.15)).enhance(0.7),
    "overlay-text": _overlay_text,
    "hflip": ImageOps.mirror,
    "vflip": ImageOps.flip,
    "rotate-90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rotate-180": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "hflip-jpeg-q50": lambda im: _jpeg(ImageOps.mirror(im), 50),
}


def transform(image: Image.Image, name: str) -> Image.Image:
    return TRANSFORMS[name](image)
