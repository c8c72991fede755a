"""Dense CLIP read-out (MaskCLIP-style): patch tokens scored against the class prompt.

MaskCLIP (Zhou et al., "Extract Free Dense Labels from CLIP", ECCV 2022) reads a ViT CLIP
densely by taking, in the last transformer block, the value embedding of each patch token
through the attention's output projection (no query-key mixing, which makes every token look
like the class token), then CLIP's final layer norm and projection. Each patch's cosine
similarity to the prompt's text embedding is min-max normalised over the image, upsampled
bilinearly to the image size and thresholded; holes are filled and connected parts smaller
than ``min_part`` of the image dropped. The image is resized to the model's square input
(its aspect ratio is restored when the map is upsampled). Needs a ViT CLIP (OpenAI's
ViT-B/16, ViT-B/32, ... by name or .pt path, or the embedded TinyCLIP-World).
"""
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from ..clip_import import import_clip
from ..clip_loader import load_clip
from .methods import MakeMasksError, MaskMethod

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's image normalisation
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class DenseCLIP(MaskMethod):
    """Foreground = patches whose value-path features match the class prompt best."""

    name = "clip"
    uses_prompt = True

    def __init__(self, model="ViT-B/16", cache_dir="", threshold=0.5, min_part=0.01,
                 device="cpu", batch_size=32):
        self.model_name, self.threshold, self.min_part = model, threshold, min_part
        try:
            clip_model = load_clip(model, cache_dir)
        except (FileNotFoundError, RuntimeError) as e:
            raise MakeMasksError(f"--clip-model: {e}") from None
        if not hasattr(clip_model.visual, "transformer"):
            raise MakeMasksError(f"--clip-model {model} has a ResNet image encoder; the dense "
                                 "read-out needs a ViT CLIP (e.g. ViT-B/16).")
        self.model = clip_model.float().to(device).eval()
        self.device, self.batch_size = torch.device(device), batch_size
        self.clip = import_clip()
        self._text = {}
        self.mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CLIP_STD).view(3, 1, 1)

    @staticmethod
    def add_arguments(parser):
        group = parser.add_argument_group("clip")
        group.add_argument("--clip-model", default="ViT-B/16",
                           help="OpenAI CLIP name (looked up in the CLIP cache), .pt path, or "
                                "TinyCLIP-World")
        group.add_argument("--clip-cache-dir", default="", help="as MODEL.BACKBONE.CLIP_CACHE_DIR")
        group.add_argument("--clip-threshold", type=float, default=0.5,
                           help="cut on the min-max normalised similarity map")
        group.add_argument("--clip-min-part", type=float, default=0.01,
                           help="drop connected parts smaller than this share of the image")
        group.add_argument("--device", default="cpu", help="torch device, e.g. cuda")

    @classmethod
    def from_args(cls, args):
        return cls(args.clip_model, args.clip_cache_dir, args.clip_threshold, args.clip_min_part,
                   args.device, args.batch_size or 32)

    def settings(self):
        return {"model": self.model_name, "threshold": self.threshold, "min_part": self.min_part}

    @torch.no_grad()
    def segment(self, requests):
        visual = self.model.visual
        size = visual.input_resolution
        images = torch.stack([self._tensor(r.image_path, size) for r in requests]).to(self.device)
        patches = F.normalize(self.patch_features(images), dim=-1)  # (B, g, g, D)
        texts = torch.stack([self._text_feature(r.prompt) for r in requests])  # (B, D)
        maps = torch.einsum("bijd,bd->bij", patches, texts)
        return [self._mask(m, r.size) for m, r in zip(maps, requests)]

    def patch_features(self, images):
        """(B, g, g, D) MaskCLIP features of the patch tokens (module docstring)."""
        visual = self.model.visual
        x = visual.conv1(images)
        b, width, grid, _ = x.shape
        x = x.reshape(b, width, grid * grid).permute(0, 2, 1)
        cls = visual.class_embedding.to(x.dtype) + torch.zeros(b, 1, width, dtype=x.dtype,
                                                                 device=x.device)
        x = visual.ln_pre(torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype))
        x = x.permute(1, 0, 2)  # NLD -> LND, as CLIP's transformer takes it
        *blocks, last = visual.transformer.resblocks
        for block in blocks:
            x = block(x)
        attn = last.attn
        value_weight, value_bias = attn.in_proj_weight[2 * width:], attn.in_proj_bias[2 * width:]
        values = attn.out_proj(F.linear(last.ln_1(x), value_weight, value_bias))
        tokens = visual.ln_post(values.permute(1, 0, 2)[:, 1:]) @ visual.proj
        return tokens.reshape(b, grid, grid, -1)

    def _tensor(self, path, size):
        with Image.open(path) as f:
            rgb = f.convert("RGB").resize((size, size), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float() / 255
        return (x - self.mean) / self.std

    def _text_feature(self, prompt):
        if prompt not in self._text:
            tokens = self.clip.tokenize([prompt]).to(self.device)
            self._text[prompt] = F.normalize(self.model.encode_text(tokens), dim=-1)[0]
        return self._text[prompt]

    def _mask(self, similarity, size):
        low, high = similarity.min(), similarity.max()
        if high - low < 1e-6:  # no contrast: nothing stands out
            return np.zeros((size[1], size[0]), bool)
        scaled = (similarity - low) / (high - low)
        full = F.interpolate(scaled[None, None], size=(size[1], size[0]), mode="bilinear",
                             align_corners=False)[0, 0].cpu().numpy()
        return clean(full > self.threshold, self.min_part)


def clean(mask, min_part):
    """``mask`` with holes filled and connected parts below ``min_part`` of the image removed."""
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_part * mask.size
    keep[0] = False
    return keep[labels]
