"""The default text prompt of each data set, given to the methods that read one (clip, command).

The eleven benchmark prompts are the SEEM text prompts the authors used for their released
masks (paper Table 9), keyed by CoOp's ``DATASET.NAME``; ``{}`` stands for the class name
where the paper writes [CLASS]. Other data sets get CLIP's zero-shot template.
"""
# paper Table 9 ("Textual prompts used in SEEM model for generating foreground masks")
TABLE_9_PROMPTS = {
    "ImageNet": "The whole {} in the middle.",
    "Caltech101": "A huge {}.",
    "Food101": "The whole {} in the middle.",
    "StanfordCars": "A huge and whole car.",
    "OxfordPets": "The pet in the middle.",
    "OxfordFlowers": "The flower in the middle.",
    "DescribableTextures": "The {}.",
    "EuroSAT": "The satellite {}.",
    "FGVCAircraft": "The huge airplane in the middle.",
    "SUN397": "The {}.",
    "UCF101": "The people with {}.",
}
FALLBACK_PROMPT = "a photo of a {}."  # CLIP's (and CoOp's hand-written) zero-shot template


def default_prompt(dataset_name):
    """The prompt template for ``dataset_name`` (``{}``: the class name)."""
    return TABLE_9_PROMPTS.get(dataset_name, FALLBACK_PROMPT)


def prompt_for(template, classname):
    """The template filled with a class name, underscores read as spaces (as CoOp does)."""
    return template.replace("{}", classname.replace("_", " "))
