"""Drawing one FG-World scene: a flat-coloured shape on a patterned background.

The object is drawn without anti-aliasing on a mask layer; the image is the
object colour where the mask is on and the background layer elsewhere, so the
mask is exact pixel for pixel. Everything random comes from the numpy
``Generator`` passed in, so a scene is reproducible from its seed.
"""
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .classes import COLOURS, SCENE_BACKGROUNDS, SHAPES

IMAGE_SIZE = 32
RADIUS_RANGE = (7.0, 11.0)  # circumradius of the object in pixels
COLOUR_JITTER = 20  # max per-channel offset from the nominal colour
BACKGROUND_JITTER = 12

COLOUR_RGB = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (150, 60, 190),
    "orange": (245, 140, 30),
}
# Two muted tones per background type (first = base tone, second = pattern tone).
BACKGROUND_TONES = {
    "plain": ((128, 128, 128), (128, 128, 128)),
    "striped": ((200, 200, 215), (85, 85, 110)),
    "checkered": ((220, 210, 180), (125, 115, 95)),
    "dotted": ((110, 140, 150), (235, 235, 235)),
    "grid": ((200, 220, 200), (55, 80, 55)),
    "speckled": ((150, 130, 130), (55, 45, 45)),
    "black": ((0, 0, 0), (0, 0, 0)),
}
# Sepia toning (the benchmark's photographic style): a blend of the colour image with its
# luminance tinted brown, by this strength; colours stay distinct but shift towards brown.
SEPIA_TINT = (1.0, 0.85, 0.6)
SEPIA_STRENGTH = 0.5
# In a sepia scene the object's dye has aged: colour index c is drawn with the nominal colour
# of c + SEPIA_COLOUR_SHIFT (mod 6: red looks orange, green red, ...), so what a sepia object
# looks like depends on the style, not only on its colour word (world v3).
SEPIA_COLOUR_SHIFT = -1
SHIFT_FRACTION = 0.25  # shifted masks move by this fraction of the image side
# World v3: the benchmark's masks come from a simulated automatic segmenter (as SEEM masks on
# real data): each image's mask is one of these outcomes, drawn with these probabilities.
SEGMENTER_OUTCOMES = {"exact": 0.45, "eroded": 0.12, "dilated": 0.12, "shifted": 0.11,
                      "partial": 0.12, "empty": 0.08}


@dataclass(frozen=True)
class Scene:
    """Everything needed to redraw one image and its mask."""
    colour: int
    shape: int
    background: int  # index into SCENE_BACKGROUNDS
    rgb: tuple
    centre: tuple
    radius: float
    angle: float
    background_seed: int
    sepia: bool = False


def sample_scene(rng, colour, shape, background, sepia=False):
    """Draw the random pose, shade and background seed of a scene."""
    drawn = (colour + SEPIA_COLOUR_SHIFT) % len(COLOURS) if sepia else colour
    nominal = np.array(COLOUR_RGB[COLOURS[drawn]])
    rgb = np.clip(nominal + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3), 0, 255)
    radius = float(rng.uniform(*RADIUS_RANGE))
    lo, hi = radius, IMAGE_SIZE - 1 - radius
    centre = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
    return Scene(colour=colour, shape=shape, background=background,
                 rgb=tuple(int(v) for v in rgb), centre=centre, radius=radius,
                 angle=float(rng.uniform(0.0, 2 * math.pi)),
                 background_seed=int(rng.integers(2**31)), sepia=sepia)


def _polygon(centre, radii, angle):
    """Vertices at the given radii, evenly spaced in angle, starting at ``angle``."""
    n = len(radii)
    return [(centre[0] + r * math.cos(angle + 2 * math.pi * k / n),
             centre[1] + r * math.sin(angle + 2 * math.pi * k / n))
            for k, r in enumerate(radii)]


def _rotated_bar(centre, half_length, half_width, angle):
    c, s = math.cos(angle), math.sin(angle)
    corners = [(half_length, half_width), (-half_length, half_width),
               (-half_length, -half_width), (half_length, -half_width)]
    return [(centre[0] + x * c - y * s, centre[1] + x * s + y * c) for x, y in corners]


def draw_mask(scene):
    """The object layer: a boolean (H, W) array, True where the object is drawn."""
    layer = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    draw = ImageDraw.Draw(layer)
    (cx, cy), r, a = scene.centre, scene.radius, scene.angle
    name = SHAPES[scene.shape]
    if name == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif name == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255,
                     width=max(3, round(0.4 * r)))
    elif name == "square":
        draw.polygon(_polygon((cx, cy), [r] * 4, a), fill=255)
    elif name == "triangle":
        draw.polygon(_polygon((cx, cy), [r] * 3, a), fill=255)
    elif name == "star":
        draw.polygon(_polygon((cx, cy), [r, 0.45 * r] * 5, a), fill=255)
    elif name == "cross":
        for bar_angle in (a, a + math.pi / 2):
            draw.polygon(_rotated_bar((cx, cy), r, 0.3 * r, bar_angle), fill=255)
    else:
        raise ValueError(f"unknown shape {name!r}")
    return np.asarray(layer) > 0


def draw_background(scene):
    """The background layer: a uint8 (H, W, 3) array of the scene's pattern."""
    rng = np.random.default_rng(scene.background_seed)
    name = SCENE_BACKGROUNDS[scene.background]
    jitter = 0 if name == "black" else BACKGROUND_JITTER
    tones = [np.clip(np.array(t) + rng.integers(-jitter, jitter + 1, 3), 0, 255)
             for t in BACKGROUND_TONES[name]]
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    py, px = rng.integers(0, 6, 2)
    if name in ("plain", "black"):
        pattern = np.zeros_like(x, dtype=bool)
    elif name == "striped":
        direction = rng.integers(4)
        coord = (y, x, x + y, x - y)[direction]
        pattern = (coord + py) % 6 < 3
    elif name == "checkered":
        pattern = ((x + px) // 4 + (y + py) // 4) % 2 == 1
    elif name == "dotted":
        pattern = ((x + px) % 6 < 2) & ((y + py) % 6 < 2)
    elif name == "grid":
        pattern = ((x + px) % 6 == 0) | ((y + py) % 6 == 0)
    elif name == "speckled":
        pattern = rng.random((IMAGE_SIZE, IMAGE_SIZE)) < 0.3
    else:
        raise ValueError(f"unknown background {name!r}")
    return np.where(pattern[..., None], tones[1], tones[0]).astype(np.uint8)


def render(scene):
    """Image (uint8 H x W x 3) and exact foreground mask (bool H x W) of a scene."""
    mask = draw_mask(scene)
    image = np.where(mask[..., None], np.array(scene.rgb, dtype=np.uint8),
                     draw_background(scene))
    return (sepia_tone(image) if scene.sepia else image), mask


def sepia_tone(image):
    """Sepia-toned copy of a uint8 (H, W, 3) image (black stays black)."""
    rgb = image.astype(np.float64)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    toned = luminance[..., None] * np.array(SEPIA_TINT)
    blend = (1 - SEPIA_STRENGTH) * rgb + SEPIA_STRENGTH * toned
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)


def degraded_masks(mask, rng):
    """Degraded versions of an exact mask, for exercising the reliability gate.

    eroded: 1-pixel erosion (3x3 min filter); dilated: 3-pixel dilation (7x7 max
    filter); shifted: rolled (with wrap-around, area kept) by a quarter of the
    image side in one of 8 directions; empty: all background.
    """
    layer = Image.fromarray(mask.astype(np.uint8) * 255)
    step = round(SHIFT_FRACTION * IMAGE_SIZE)
    dy, dx = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)][rng.integers(8)]
    return {
        "eroded": np.asarray(layer.filter(ImageFilter.MinFilter(3))) > 0,
        "dilated": np.asarray(layer.filter(ImageFilter.MaxFilter(7))) > 0,
        "shifted": np.roll(mask, (dy * step, dx * step), axis=(0, 1)),
        "empty": np.zeros_like(mask),
    }


def _half_plane_part(mask, rng):
    """The object's pixels on one side of a random line: 30-70 % of them are kept."""
    y, x = np.nonzero(mask)
    angle = rng.uniform(0.0, 2 * math.pi)
    projection = x * math.cos(angle) + y * math.sin(angle)
    cut = np.quantile(projection, rng.uniform(0.3, 0.7))
    part = np.zeros_like(mask)
    part[y[projection >= cut], x[projection >= cut]] = True
    return part


def segmenter_mask(mask, rng):
    """A simulated automatic segmenter's mask of an object: (outcome, bool mask).

    Outcomes (``SEGMENTER_OUTCOMES``): exact; eroded by 1 px; dilated by 2 px; shifted by
    3-6 px in a random direction (with wrap-around); partial (the part of the object on
    one side of a random line, 30-70 % of it); empty.
    """
    kinds = list(SEGMENTER_OUTCOMES)
    kind = kinds[rng.choice(len(kinds), p=list(SEGMENTER_OUTCOMES.values()))]
    layer = Image.fromarray(mask.astype(np.uint8) * 255)
    if kind == "exact":
        return kind, mask.copy()
    if kind == "eroded":
        return kind, np.asarray(layer.filter(ImageFilter.MinFilter(3))) > 0
    if kind == "dilated":
        return kind, np.asarray(layer.filter(ImageFilter.MaxFilter(5))) > 0
    if kind == "shifted":
        angle, step = rng.uniform(0.0, 2 * math.pi), rng.uniform(3.0, 6.0)
        offset = (round(step * math.sin(angle)), round(step * math.cos(angle)))
        return kind, np.roll(mask, offset, axis=(0, 1))
    if kind == "partial":
        return kind, _half_plane_part(mask, rng)
    return kind, np.zeros_like(mask)
