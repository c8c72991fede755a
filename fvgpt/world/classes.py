"""Vocabulary of the FG-World: colours, shapes, backgrounds, class order, captions.

A class is ``"<colour> <shape>"`` (6 x 6 = 36 classes). Labels follow
``CLASSNAMES``: the 18 base classes first, then the 18 new ones, each half in
colour-major order. Base/new is the 6x6 pattern "shape index minus colour index
(mod 6) < 3", so every colour and every shape has 3 base and 3 new classes: the
new classes are unseen *combinations* of words the base classes use.

Each class has a characteristic background (``CHARACTERISTIC_BACKGROUND``), a
Latin square over (colour, shape): every background is characteristic of 6
classes (3 base, 3 new) with 6 different colours and 6 different shapes, so a
background alone names neither the colour nor the shape. The train split uses
it with probability ``P_CHARACTERISTIC``; val and test draw backgrounds
uniformly.
"""
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")
BACKGROUNDS = ("plain", "striped", "checkered", "dotted", "grid", "speckled")
# Backgrounds a scene can have: the benchmark's, then black, which only the tiny
# CLIP's pre-training uses (so that foreground views, x * mask, are familiar to it).
SCENE_BACKGROUNDS = BACKGROUNDS + ("black",)

# Background index per (colour row, shape column): a Latin square with 3 base
# and 3 new classes per background.
_BACKGROUND_SQUARE = (
    (0, 1, 2, 3, 4, 5),
    (2, 3, 5, 0, 1, 4),
    (1, 2, 3, 4, 5, 0),
    (3, 5, 4, 1, 0, 2),
    (4, 0, 1, 5, 2, 3),
    (5, 4, 0, 2, 3, 1),
)

P_CHARACTERISTIC = 0.8


def is_base(colour, shape):
    """Whether (colour index, shape index) is a base class."""
    return (shape - colour) % 6 < 3


def _ordered_pairs():
    pairs = [(c, s) for c in range(len(COLOURS)) for s in range(len(SHAPES))]
    return [p for p in pairs if is_base(*p)] + [p for p in pairs if not is_base(*p)]


CLASS_PAIRS = tuple(_ordered_pairs())  # label -> (colour index, shape index)
CLASSNAMES = tuple(f"{COLOURS[c]} {SHAPES[s]}" for c, s in CLASS_PAIRS)
NUM_BASE = sum(is_base(c, s) for c, s in CLASS_PAIRS)
CHARACTERISTIC_BACKGROUND = tuple(_BACKGROUND_SQUARE[c][s] for c, s in CLASS_PAIRS)


def folder_name(classname):
    """Image folder of a class: spaces become underscores."""
    return classname.replace(" ", "_")


# Caption phrasings for pre-training; "{obj}" is the class name, "{bg}" a background name.
CAPTIONS_WITH_BACKGROUND = (
    "a photo of a {obj} on a {bg} background.",
    "a {obj} on a {bg} background.",
    "a picture of a {obj} in front of a {bg} background.",
    "a {bg} background with a {obj}.",
)
CAPTIONS_WITHOUT_BACKGROUND = (
    "a photo of a {obj}.",
    "a {obj}.",
    "a picture of a {obj}.",
    "an image of a {obj}.",
)
# Sepia-toned scenes are always captioned as such (the style word is what prompt tuning can
# learn: the benchmark is all sepia, its hand-written prompt "a photo of a {}." does not say so).
SEPIA_CAPTIONS_WITH_BACKGROUND = (
    "a sepia photo of a {obj} on a {bg} background.",
    "a sepia picture of a {obj} in front of a {bg} background.",
)
SEPIA_CAPTIONS_WITHOUT_BACKGROUND = (
    "a sepia photo of a {obj}.",
    "a sepia picture of a {obj}.",
)
