"""A tiny OpenAI-architecture CLIP pre-trained on captioned FG-World scenes.

The model is ``clip.model.CLIP`` (ViT image encoder, 77-token text transformer,
CLIP's BPE vocabulary) with small widths (``TINY_CLIP``); its fp16 state dict
loads with ``clip.model.build_model``. Rows of the token embedding for tokens
the world's captions never use are saved as zeros, so the file compresses well.

Pre-training is CLIP's symmetric contrastive loss on a stream of scenes that is
separate from the benchmark (its own seed-sequence key, mostly uniform backgrounds,
all 36 classes, i.e. base and new, plus a share of black backgrounds and of
sepia-toned scenes), with captions such as "a photo of a red circle on a striped
background.", "a red circle." or, for sepia scenes of base classes only, "a sepia photo
of a red circle." (world v3, fvgpt/world/README.md). Captions whose content (class,
caption style, background) fits several images of a batch count as positives for all of
them (soft targets).

Re-run: ``python scripts/pretrain_tiny_clip.py --out PATH --seed 0 --threads 1``: 1500
steps of 128 scenes, 380 s with one torch thread on this project's 2-core CPU machine
(torch 2.14). The same seed, torch build and thread count give identical weights; other
builds and thread counts differ in the last bits.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..clip_import import clip
from . import render
from .classes import (CAPTIONS_WITH_BACKGROUND, CAPTIONS_WITHOUT_BACKGROUND,
                      CHARACTERISTIC_BACKGROUND, CLASS_PAIRS, CLASSNAMES, NUM_BASE, SCENE_BACKGROUNDS, SEPIA_CAPTIONS_WITH_BACKGROUND,
                      SEPIA_CAPTIONS_WITHOUT_BACKGROUND)
from .generate import IMAGES_PER_CLASS, benchmark_scene

TINY_CLIP = dict(
    embed_dim=128,
    image_resolution=render.IMAGE_SIZE,
    vision_layers=4,
    vision_width=128,
    vision_patch_size=8,
    context_length=77,
    vocab_size=49408,
    transformer_width=64,
    transformer_heads=1,
    transformer_layers=3,
)
ASSET_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets",
                          "tiny_clip_world.pt")
ZERO_SHOT_TEMPLATE = "a photo of a {}."
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

PRETRAIN_STREAM = 3  # seed-sequence key; the benchmark splits use 0, 1, 2
P_BLACK = 0.3  # share of pre-training scenes on a black background
P_CAPTION_WITH_BACKGROUND = 0.5
P_SEPIA = 0.4  # share of pre-training scenes in sepia
# Which classes' sepia scenes are captioned with the style word ("a sepia photo of ..."):
# "all" (world v2), or "base" (world v3: sepia scenes of new classes are captioned like
# colour ones, so the style word belongs to the base concepts).
SEPIA_CAPTIONED = "base"
# Share of captioned sepia scenes (not on black) shown on their class's characteristic
# background: the style word's captions then carry the class backgrounds (world v3).
P_SEPIA_ON_CHARACTERISTIC = 0.4
# Caption templates per style (False: colour, True: sepia), without and with the background.
CAPTIONS = {False: (CAPTIONS_WITHOUT_BACKGROUND, CAPTIONS_WITH_BACKGROUND),
            True: (SEPIA_CAPTIONS_WITHOUT_BACKGROUND, SEPIA_CAPTIONS_WITH_BACKGROUND)}


def build_tiny_clip(seed=0):
    """A freshly initialised fp32 tiny CLIP."""
    torch.manual_seed(seed)
    return clip.model.CLIP(**TINY_CLIP)


def captioned_sepia(label, sepia):
    """Whether a pre-training scene's caption names the sepia style."""
    return sepia and (SEPIA_CAPTIONED == "all" or label < NUM_BASE)


def pretrain_scene(seed, index):
    """Scene ``index`` of the pre-training stream: uniform class, background mostly uniform."""
    rng = np.random.default_rng([seed, PRETRAIN_STREAM, index])
    label = int(rng.integers(len(CLASSNAMES)))
    black = SCENE_BACKGROUNDS.index("black")
    background = black if rng.random() < P_BLACK else int(rng.integers(black))
    sepia = bool(rng.random() < P_SEPIA)
    if (background != black and captioned_sepia(label, sepia)
            and rng.random() < P_SEPIA_ON_CHARACTERISTIC):
        background = CHARACTERISTIC_BACKGROUND[label]
    colour, shape = CLASS_PAIRS[label]
    return label, render.sample_scene(rng, colour, shape, background, sepia), rng


def images_to_tensor(images):
    """uint8 (N, H, W, 3) RGB array -> CLIP-normalised float (N, 3, H, W) tensor."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class CaptionBank:
    """Every pre-training caption, tokenised once, with what it says (class, background, style)."""

    def __init__(self):
        entries = []
        for sepia, (plain, with_background) in CAPTIONS.items():
            for label, name in enumerate(CLASSNAMES):
                entries += [(label, -1, sepia, t.format(obj=name)) for t in plain]
                for bg, bg_name in enumerate(SCENE_BACKGROUNDS):
                    entries += [(label, bg, sepia, t.format(obj=name, bg=bg_name))
                                for t in with_background]
        self.texts = [text for *_, text in entries]
        self.labels = torch.tensor([e[0] for e in entries])
        self.backgrounds = torch.tensor([e[1] for e in entries])
        self.sepia = torch.tensor([e[2] for e in entries])
        self.tokens = clip.tokenize(self.texts)
        self._index = {entry: i for i, entry in enumerate(entries)}

    def to(self, device):
        """Move the caption tensors to ``device``; returns self."""
        self.tokens, self.labels, self.backgrounds, self.sepia = (
            t.to(device) for t in (self.tokens, self.labels, self.backgrounds, self.sepia))
        return self

    def sample(self, rng, label, scene):
        """Index of a random caption describing a scene, in the scene's style."""
        name = CLASSNAMES[label]
        style = captioned_sepia(label, scene.sepia)
        plain, with_background = CAPTIONS[style]
        if rng.random() < P_CAPTION_WITH_BACKGROUND:
            template = with_background[rng.integers(len(with_background))]
            text = template.format(obj=name, bg=SCENE_BACKGROUNDS[scene.background])
            return self._index[(label, scene.background, style, text)]
        template = plain[rng.integers(len(plain))]
        return self._index[(label, -1, style, template.format(obj=name))]

    def used_token_ids(self):
        """Token ids that occur in any caption or in the zero-shot prompts."""
        prompts = clip.tokenize([ZERO_SHOT_TEMPLATE.format(c) for c in CLASSNAMES])
        return torch.unique(torch.cat([self.tokens.flatten(), prompts.flatten()]))


def pretrain_batch(bank, seed, step, batch_size):
    """Images, caption indices, labels and backgrounds of one pre-training batch."""
    images, captions, labels, backgrounds, sepia = [], [], [], [], []
    for index in range(step * batch_size, (step + 1) * batch_size):
        label, scene, rng = pretrain_scene(seed, index)
        images.append(render.render(scene)[0])
        captions.append(bank.sample(rng, label, scene))
        labels.append(label)
        backgrounds.append(scene.background)
        sepia.append(captioned_sepia(label, scene.sepia))
    return (images_to_tensor(np.stack(images)), torch.tensor(captions),
            torch.tensor(labels), torch.tensor(backgrounds), torch.tensor(sepia))


def encode_text_causal_prefix(model, tokens):
    """``model.encode_text(tokens)`` computed on the shortest prefix that holds every EOT token.

    The text transformer is causal, so the feature at the EOT token depends only on
    the tokens before it: cutting the 77-token context to the longest caption gives
    the same features (up to rounding) at a fraction of the cost.
    """
    length = int(tokens.argmax(dim=-1).max()) + 1
    x = model.token_embedding(tokens[:, :length]) + model.positional_embedding[:length]
    x = x.permute(1, 0, 2)
    for block in model.transformer.resblocks:
        mask = block.attn_mask[:length, :length].to(device=x.device, dtype=x.dtype)
        h = block.ln_1(x)
        x = x + block.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        x = x + block.mlp(block.ln_2(x))
    x = model.ln_final(x.permute(1, 0, 2))
    return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ model.text_projection


def contrastive_loss(model, bank, images, captions, labels, backgrounds, sepia):
    """Symmetric CLIP loss over the batch's distinct captions, with soft multi-positives."""
    unique = torch.unique(captions)
    image_features = F.normalize(model.encode_image(images), dim=-1)
    text_features = F.normalize(encode_text_causal_prefix(model, bank.tokens[unique]), dim=-1)
    logits = model.logit_scale.exp().clamp(max=100) * image_features @ text_features.t()
    cap_labels, cap_bgs = bank.labels[unique], bank.backgrounds[unique]
    positive = (labels[:, None] == cap_labels[None]) & (sepia[:, None] == bank.sepia[unique][None]) & (
        (cap_bgs[None] == -1) | (cap_bgs[None] == backgrounds[:, None]))
    positive = positive.float()
    image_to_text = -(positive / positive.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1)
    text_to_image = -(positive / positive.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0)
    return (image_to_text.mean() + text_to_image.mean()) / 2


def _lr_at(step, steps, lr, warmup):
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def pretrain(seed=0, steps=1500, batch_size=128, lr=1e-3, weight_decay=0.05, warmup=100,
             eval_every=0, eval_images=None, device="cpu"):
    """Pre-train a tiny CLIP on ``device``; returns the fp32 model on the CPU.

    ``eval_images`` (images, labels) is scored zero-shot every ``eval_every``
    steps (0: never) and shown on the progress bar.
    """
    model = build_tiny_clip(seed).to(device)
    bank = CaptionBank().to(device)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    bar = tqdm(range(steps), desc="pre-training tiny CLIP", dynamic_ncols=True)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps, lr, warmup)
        model.train()
        batch = [t.to(device) for t in pretrain_batch(bank, seed, step, batch_size)]
        loss = contrastive_loss(model, bank, *batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        postfix = {"loss": f"{loss.item():.3f}"}
        if eval_every and eval_images is not None and (step + 1) % eval_every == 0:
            postfix.update(base_new_accuracy(model, *(t.to(device) for t in eval_images)))
            tqdm.write(f"step {step + 1}: {postfix}")
        bar.set_postfix(postfix)
    return model.cpu().eval()


@torch.no_grad()
def zero_shot_accuracy(model, images, labels, label_subset):
    """Accuracy of "a photo of a {}." among the classes ``label_subset`` (labels index it)."""
    model.eval()
    dtype = model.visual.conv1.weight.dtype
    prompts = clip.tokenize([ZERO_SHOT_TEMPLATE.format(CLASSNAMES[y]) for y in label_subset])
    prompts = prompts.to(images.device)
    text = F.normalize(model.encode_text(prompts).float(), dim=-1)
    image = F.normalize(model.encode_image(images.to(dtype)).float(), dim=-1)
    predictions = torch.as_tensor(label_subset, device=images.device)[(image @ text.t()).argmax(1)]
    return (predictions == labels).float().mean().item()


def benchmark_images(split, foreground_only=False, world_seed=0):
    """All images of a benchmark split (rendered, identical to the PNGs) and their labels.

    ``foreground_only`` blacks out the background (x * mask, FVG-PT's foreground view).
    """
    images, labels = [], []
    for label in range(len(CLASSNAMES)):
        for index in range(IMAGES_PER_CLASS[split]):
            image, mask = render.render(benchmark_scene(world_seed, split, label, index)[0])
            images.append(image * mask[..., None] if foreground_only else image)
            labels.append(label)
    return images_to_tensor(np.stack(images)), torch.tensor(labels)


def base_new_accuracy(model, images, labels):
    """Zero-shot accuracy on base images among base classes and new among new (CoOp's protocol)."""
    result = {}
    for name, subset in (("base", range(NUM_BASE)), ("new", range(NUM_BASE, len(CLASSNAMES)))):
        keep = (labels >= subset.start) & (labels < subset.stop)
        result[name] = round(zero_shot_accuracy(model, images[keep], labels[keep], list(subset)), 4)
    return result


def checkpoint_state_dict(model):
    """fp16 state dict for ``build_model``; token-embedding rows the world never uses are zero."""
    state = {k: v.detach().clone().half() for k, v in model.state_dict().items()}
    keep = torch.zeros(TINY_CLIP["vocab_size"], dtype=torch.bool)
    keep[CaptionBank().used_token_ids()] = True
    state["token_embedding.weight"][~keep] = 0
    return state


def load_tiny_clip(path=ASSET_PATH):
    """The shipped tiny CLIP, built by ``clip.model.build_model`` (fp16 weights, eval mode)."""
    return clip.model.build_model(torch.load(path, map_location="cpu", weights_only=True))
