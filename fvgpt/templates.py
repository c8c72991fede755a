"""Hand-written prompt template of each data set, as used by zero-shot CLIP.

Templates come from CoOp (KaiyangZhou/CoOp, trainers/zsclip.py, CUSTOM_TEMPLATES),
keyed by DATASET.NAME; a name not listed gets the generic "a photo of a {}."
"""

DEFAULT_TEMPLATE = "a photo of a {}."

TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}


def template_for(dataset_name):
    """Prompt template (with one ``{}`` for the class name) for ``dataset_name``."""
    return TEMPLATES.get(dataset_name, DEFAULT_TEMPLATE)
