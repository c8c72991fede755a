"""FVG-PT as one model: a frozen, already-tuned backbone and the head trained on it
(docs/spec.md)."""
import torch
import torch.nn as nn

BRANCHES = ("fdc", "pc")  # the test-time branches: base classes, new classes (spec, Inference)


class FVGPT(nn.Module):
    """FVG-PT on a frozen backbone adapter (``fvgpt.backbones``) with its ``FVGPTHead``.

    The backbone supplies f(x), g(t), z(x), z(x_fg) and z_CLIP(x) from no-grad passes; the
    head holds everything that is trained. ``train()`` switches the head only: the frozen
    backbone stays in eval mode.
    """

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def train(self, mode=True):
        self.training = mode
        self.head.train(mode)
        return self

    @torch.no_grad()
    def backbone_outputs(self, image, image_fg, mask, label):
        """What the head trains on, from the frozen backbone: the FDC input f(x), z(x) and
        z(x_fg) (Eq. 3), z_CLIP(x) (Eq. 11), the mask of A(m) (Eq. 5) and the labels."""
        backbone = self.backbone
        features = backbone.image_features(image)
        return {"fdc": backbone.fdc_features(features), "logits": backbone.logits(features),
                "logits_fg": backbone.logits(backbone.image_features(image_fg)),
                "logits_clip": backbone.clip_logits(backbone.clip_image_features(image, features)),
                "mask": mask, "label": label}

    def losses(self, inputs):
        """L = L_base (Eq. 10) + lambda_new L_PC (Eq. 15) and its terms (``FVGPTHead.losses``)
        on ``backbone_outputs`` or their replay (``fvgpt.replay``)."""
        return self.head.losses(inputs["fdc"], self.backbone.class_features, inputs["logits"],
                                inputs["logits_fg"], inputs["logits_clip"], inputs["mask"],
                                inputs["label"])

    def forward(self, image, branch):
        """Test-time logits: z_FDC (Eq. 8) for ``branch`` "fdc" (base classes), z_PC (Eq. 12)
        for "pc" (new classes; the FDC adapters are not called). The branches never mix."""
        return self.test_logits(self.test_inputs(image, branch), branch)

    @torch.no_grad()
    def test_inputs(self, image, branch):
        """What ``branch`` needs from the frozen backbone: f(x) for "fdc", z(x) and z_CLIP(x)
        for "pc"."""
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
        backbone = self.backbone
        features = backbone.image_features(image)
        if branch == "fdc":
            return {"fdc": backbone.fdc_features(features)}
        return {"logits": backbone.logits(features),
                "logits_clip": backbone.clip_logits(backbone.clip_image_features(image, features))}

    def test_logits(self, inputs, branch):
        """The head's test-time logits for ``branch`` from ``test_inputs`` (or their replay)."""
        if branch == "fdc":
            return self.head.fdc_logits(inputs["fdc"], self.backbone.class_features)
        return self.head.pc_logits(inputs["logits"], inputs["logits_clip"])[0]
