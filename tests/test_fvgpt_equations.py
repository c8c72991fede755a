"""Each equation of docs/spec.md checked against a hand computation on small tensors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fvgpt import losses
from fvgpt.model import FVGPT
from fvgpt.modules import FVGPTHead
from fvgpt.trainer import FVGPTTrainer, resolve_test_branch

TAU = 2.0


def np_softmax(z, tau=TAU):
    z = np.asarray(z, dtype=np.float64) / tau
    e = np.exp(z - z.max())
    return e / e.sum(-1, keepdims=True)


def np_kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))  # float64: no underflow at these logits


def np_ce(z, y):
    z = np.asarray(z, dtype=np.float64)
    return float(np.log(np.exp(z).sum()) - z[y])


def test_softened_distribution_and_entropy():
    p = losses.soften(torch.tensor([[2.0, 0.0]]), TAU)
    assert p[0, 0].item() == pytest.approx(math.e / (math.e + 1), rel=1e-6)
    assert losses.entropy(torch.tensor([[3.0, 3.0]]), TAU).item() == pytest.approx(math.log(2))
    assert losses.entropy(torch.tensor([[500.0, 0.0]]), TAU).item() == pytest.approx(0.0)


def test_kl_is_exact_where_probabilities_underflow():
    # q puts e^-100 on class 0: clamping probabilities would get KL badly wrong
    got = losses.kl_divergence(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 200.0]]), TAU)
    assert got.item() == pytest.approx(0.5 * 100 - math.log(2), rel=1e-5)


@pytest.mark.parametrize("mask_pixels, area", [(0, 0.0), (1, 0.25), (4, 1.0)])
def test_foreground_gate_inputs_by_hand(mask_pixels, area):
    z_full, z_fg = [2.0, 0.0, -1.0], [0.5, 0.5, 0.0]
    mask = torch.zeros(1, 1, 2, 2)
    mask.view(-1)[:mask_pixels] = 1  # empty, quarter and full masks
    u = losses.foreground_gate_inputs(torch.tensor([z_full]), torch.tensor([z_fg]), mask, TAU)[0]
    p, q = np_softmax(z_full), np_softmax(z_fg)
    entropy_gap = -np.sum(p * np.log(p)) + np.sum(q * np.log(q))
    cosine = p @ q / (np.linalg.norm(p) * np.linalg.norm(q))
    assert u.tolist() == pytest.approx([entropy_gap, cosine, area], rel=1e-5)


def test_foreground_gate_target_compares_cross_entropies():
    z_full = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    z_fg = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # label 0: CE(full)=log(1+e^-2) < CE(fg)=log 2 -> 0; label 1: CE(full)=log(1+e^2) > log 2 -> 1
    target = losses.foreground_gate_target(z_full, z_fg, torch.tensor([0, 1]))
    assert target.tolist() == [0.0, 1.0]
    bce = losses.foreground_gate_loss(torch.tensor([0.25, 0.25]), target)
    assert bce.item() == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2, rel=1e-6)


def test_distillation_loss_by_hand():
    z_full, z_fg, z_fdc = [1.0, 0.0, 0.0], [3.0, 0.0, 1.0], [0.0, 1.0, 0.0]
    r = torch.tensor([0.25])
    got = losses.distillation_loss(r, *(torch.tensor([z]) for z in (z_fg, z_full, z_fdc)), TAU).item()
    want = (0.25 * np_kl(np_softmax(z_fg), np_softmax(z_fdc))
            + 0.75 * np_kl(np_softmax(z_full), np_softmax(z_fdc)))
    assert got == pytest.approx(want, rel=1e-5)


def test_prior_calibration_mixing_and_loss_by_hand():
    z, z_clip = torch.tensor([[4.0, 0.0, 1.0]]), torch.tensor([[0.0, 2.0, 1.0]])
    z_pc = losses.prior_calibrated_logits(torch.tensor([0.3]), z, z_clip)
    assert z_pc[0].tolist() == pytest.approx([2.8, 0.6, 1.0], rel=1e-6)
    ce, kl = losses.prior_calibration_loss(z_pc, z_clip, torch.tensor([1]), TAU)
    assert ce.item() == pytest.approx(np_ce([2.8, 0.6, 1.0], 1), rel=1e-5)
    assert kl.item() == pytest.approx(
        np_kl(np_softmax([0.0, 2.0, 1.0]), np_softmax([2.8, 0.6, 1.0])), rel=1e-5)


def test_backbone_gate_inputs_by_hand():
    z, z_clip = [1.0, 0.0], [0.0, 3.0]
    s = losses.backbone_gate_inputs(torch.tensor([z]), torch.tensor([z_clip]), TAU)[0]
    p, q = np_softmax(z), np_softmax(z_clip)
    want = [-np.sum(p * np.log(p)), -np.sum(q * np.log(q)),
            p @ q / (np.linalg.norm(p) * np.linalg.norm(q))]
    assert s.tolist() == pytest.approx(want, rel=1e-5)


def small_batch(batch_size=3, classes=4, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    normed = lambda *shape: torch.nn.functional.normalize(torch.randn(*shape, generator=g), dim=-1)
    image, text = normed(batch_size, dim), normed(classes, dim)
    logits, logits_fg, logits_clip = (10 * torch.randn(batch_size, classes, generator=g) for _ in range(3))
    mask = (torch.rand(batch_size, 1, 4, 4, generator=g) > 0.5).float()
    labels = torch.randint(0, classes, (batch_size,), generator=g)
    return image, text, logits, logits_fg, logits_clip, mask, labels


@pytest.mark.parametrize("batch_size", [1, 3])  # 1: a one-class batch
def test_total_loss_matches_a_hand_assembly(batch_size):
    torch.manual_seed(0)
    head = FVGPTHead(embed_dim=8, adapter_dim=4, gate_dim=5, lambda_dist=10.0, lambda_new=1.0)
    image, text, z, z_fg, z_clip, mask, y = small_batch(batch_size)
    out = head.losses(image, text, z, z_fg, z_clip, mask, y)

    with torch.no_grad():
        f = torch.nn.functional.normalize(image + head.visual_adapter.up(torch.relu(head.visual_adapter.down(image))), dim=-1)
        g = torch.nn.functional.normalize(text + head.text_adapter.up(torch.relu(head.text_adapter.down(text))), dim=-1)
        z_fdc = (100.0 * f @ g.t()).numpy()
        r = head.foreground_gate(losses.foreground_gate_inputs(z, z_fg, mask, TAU)).numpy()
        b = head.backbone_gate(losses.backbone_gate_inputs(z, z_clip, TAU)).numpy()
    z, z_fg, z_clip, y = z.numpy(), z_fg.numpy(), z_clip.numpy(), y.numpy()
    total = 0.0
    for i in range(batch_size):
        r_star = float(np_ce(z_fg[i], y[i]) < np_ce(z[i], y[i]))
        l_frg = -(r_star * np.log(r[i]) + (1 - r_star) * np.log(1 - r[i]))
        l_dist = (r[i] * np_kl(np_softmax(z_fg[i]), np_softmax(z_fdc[i]))
                  + (1 - r[i]) * np_kl(np_softmax(z[i]), np_softmax(z_fdc[i])))
        z_pc = (1 - b[i]) * z[i] + b[i] * z_clip[i]
        l_pc = np_ce(z_pc, y[i]) + np_kl(np_softmax(z_clip[i]), np_softmax(z_pc))
        total += np_ce(z_fdc[i], y[i]) + l_frg + 10.0 * l_dist + 1.0 * l_pc
    assert out["loss"].item() == pytest.approx(total / batch_size, rel=1e-4)


@pytest.mark.parametrize("detach, same", [(True, True), (False, False)])
def test_gate_detach_choice(detach, same):
    """With DETACH_GATE the FRG learns from L_FRG alone; without it L_dist reaches it too."""
    torch.manual_seed(0)
    head = FVGPTHead(embed_dim=8, adapter_dim=4, detach_gate=detach)
    batch = small_batch()
    head.losses(*batch)["loss"].backward()
    full_grad = head.foreground_gate.mlp[0].weight.grad.clone()
    head.zero_grad()
    head.losses(*batch)["loss_frg"].backward()
    assert torch.allclose(full_grad, head.foreground_gate.mlp[0].weight.grad) == same


def test_adapters_start_at_the_backbone_prediction():
    torch.manual_seed(0)
    head = FVGPTHead(embed_dim=8, adapter_dim=4)
    image, text = small_batch()[:2]
    assert torch.allclose(head.fdc_logits(image, text), 100.0 * image @ text.t(), atol=0.5)


def test_vit_b16_budget_is_0_13_million():
    head = FVGPTHead(embed_dim=512)
    adapter = sum(p.numel() for p in head.visual_adapter.parameters())
    gate = sum(p.numel() for p in head.foreground_gate.parameters())
    assert (adapter, gate) == (66_112, 161)
    assert sum(p.numel() for p in head.parameters()) == 2 * 66_112 + 2 * 161


class RecordingBackbone:
    """Stands in for a frozen backbone with fixed logits."""

    def __init__(self):
        self.class_features = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)

    def image_features(self, image):
        return torch.nn.functional.normalize(image, dim=-1)

    def clip_image_features(self, image, features):
        return features

    def fdc_features(self, features):
        return features

    def logits(self, features):
        return 10 * features @ self.class_features.t()

    def clip_logits(self, features):
        return 10 * features @ self.class_features.flip(0).t()


@pytest.mark.parametrize("branch, adapters_called", [("fdc", True), ("pc", False)])
def test_branch_selection_at_test_time(branch, adapters_called):
    backbone, head = RecordingBackbone(), FVGPTHead(8, 4)
    calls = []
    head.visual_adapter.register_forward_hook(lambda *a: calls.append("visual"))
    head.text_adapter.register_forward_hook(lambda *a: calls.append("text"))
    trainer = FVGPTTrainer.__new__(FVGPTTrainer)  # only the inference path is exercised
    trainer.model, trainer.test_branch = FVGPT(backbone, head), branch
    image = torch.randn(2, 8)
    out = trainer.model_inference(image)
    assert bool(calls) == adapters_called
    features = backbone.image_features(image)
    if branch == "pc":
        want = head.pc_logits(backbone.logits(features), backbone.clip_logits(features))[0]
    else:
        want = head.fdc_logits(features, backbone.class_features)
    assert torch.allclose(out, want)
    with pytest.raises(ValueError, match="branch must be one of"):
        trainer.model(image, "both")


def test_training_loss_reads_both_views_through_the_frozen_backbone():
    """FVGPT.losses on FVGPT.backbone_outputs: the head sees z(x) of the image, z(x_fg) of the
    foreground view and z_CLIP(x), and only the head gets gradients."""
    torch.manual_seed(0)
    backbone, head = RecordingBackbone(), FVGPTHead(8, 4)
    model = FVGPT(backbone, head)
    image, image_fg = torch.randn(3, 8, requires_grad=True), torch.randn(3, 8)
    mask, label = (torch.rand(3, 1, 4, 4) > 0.5).float(), torch.tensor([0, 1, 3])
    out = model.losses(model.backbone_outputs(image, image_fg, mask, label))
    f, f_fg = backbone.image_features(image), backbone.image_features(image_fg)
    want = head.losses(f, backbone.class_features, backbone.logits(f), backbone.logits(f_fg),
                       backbone.clip_logits(f), mask, label)
    assert out.keys() == want.keys()
    assert all(torch.allclose(out[k], want[k]) for k in want)
    out["loss"].backward()
    assert image.grad is None  # the backbone's passes are not differentiated
    assert all(p.grad is not None for p in head.parameters())


def test_training_mode_switches_the_head_only():
    frozen = torch.nn.Dropout(0.5).eval()  # a backbone whose output would change in train mode
    model = FVGPT(frozen, FVGPTHead(8, 4)).train()
    assert model.head.training and not frozen.training


def test_auto_branch_uses_pc_on_new_classes_only():
    assert resolve_test_branch("auto", "new") == "pc"
    assert resolve_test_branch("auto", "base") == "fdc"
    assert resolve_test_branch("auto", "all") == "fdc"
    assert resolve_test_branch("pc", "all") == "pc"  # cross-dataset targets


def test_vit_b16_head_has_the_papers_parameter_count():
    """Paper Sec. 3.3 / Table 7: about 0.13 M learnable parameters on ViT-B/16 (D = 512)."""
    from dassl.config import get_cfg_default
    from fvgpt.config import add_project_config

    cfg = get_cfg_default()
    add_project_config(cfg)
    head = FVGPTHead.from_config(cfg.TRAINER.FVGPT, 512, 100.0)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(head.visual_adapter) == count(head.text_adapter) == 512 * 64 + 64 + 64 * 512 + 512
    assert count(head.foreground_gate) == count(head.backbone_gate) == 3 * 32 + 32 + 32 + 1
    assert count(head) == 132_546


def test_fdc_branch_starts_at_the_backbones_logits_whatever_its_logit_scale():
    """Spec Sec. 2: s_FDC defaults to the backbone's own scale, so z_FDC(x) starts at z(x)."""
    from dassl.config import get_cfg_default
    from fvgpt.config import add_project_config

    cfg = get_cfg_default()
    add_project_config(cfg)
    torch.manual_seed(0)
    image = F.normalize(torch.randn(6, 16), dim=-1)
    text = F.normalize(torch.randn(5, 16), dim=-1)
    backbone_scale = 22.58  # the embedded tiny CLIP's learned scale, far from OpenAI's 100
    head = FVGPTHead.from_config(cfg.TRAINER.FVGPT, 16, backbone_scale)
    assert head.fdc_logit_scale == pytest.approx(backbone_scale)
    backbone_logits = backbone_scale * image @ text.t()
    assert torch.allclose(head.fdc_logits(image, text), backbone_logits, atol=0.05)

    cfg.TRAINER.FVGPT.FDC_LOGIT_SCALE = 100.0  # an explicit number overrides it
    assert FVGPTHead.from_config(cfg.TRAINER.FVGPT, 16, backbone_scale).fdc_logit_scale == 100.0


def ablated_head(**switches):
    """A ViT-B/16-sized head with some of TRAINER.FVGPT.ABLATION changed."""
    from dassl.config import get_cfg_default
    from fvgpt.config import add_project_config

    cfg = get_cfg_default()
    add_project_config(cfg)
    for key, value in switches.items():
        cfg.TRAINER.FVGPT.ABLATION[key] = value
    torch.manual_seed(0)
    return FVGPTHead.from_config(cfg.TRAINER.FVGPT, 512, 100.0)


def head_inputs(batch=4, classes=5):
    torch.manual_seed(1)
    image, text = F.normalize(torch.randn(batch, 512), dim=-1), F.normalize(torch.randn(classes, 512), dim=-1)
    logits, logits_fg, logits_clip = (torch.randn(batch, classes) * 5 for _ in range(3))
    mask = (torch.rand(batch, 1, 8, 8) > 0.5).float()
    return image, text, logits, logits_fg, logits_clip, mask, torch.arange(batch) % classes


def test_ablations_remove_exactly_their_part():
    inputs = head_inputs()
    reference = ablated_head().losses(*inputs)

    no_dist = ablated_head(LOSSES=["frg", "fdc_ce", "pc_ce", "pc_kl"]).losses(*inputs)
    assert no_dist["loss"].item() == pytest.approx(
        (reference["loss"] - 10.0 * reference["loss_dist"]).item(), rel=1e-5)

    fixed = ablated_head(FIXED_R=1.0, FIXED_B=0.0).losses(*inputs)
    assert fixed["gate_r"].item() == 1.0 and fixed["gate_b"].item() == 0.0
    assert torch.equal(fixed["logits_pc"], inputs[2])  # b = 0: z_PC is the backbone's z(x)

    visual_only = ablated_head(TEXT_ADAPTER=False)
    assert sum(p.numel() for p in visual_only.parameters()) == 132_546 - 66_112
    assert torch.allclose(visual_only.fdc_logits(inputs[0], inputs[1]),
                          100.0 * inputs[0] @ inputs[1].t(), atol=0.5)

    blind = ablated_head(FRG_INPUTS=[0, 1])  # the area A(m) removed from the FRG
    image, text, z, z_fg, z_clip, mask, labels = inputs
    assert torch.equal(blind.losses(*inputs)["gate_r"], blind.losses(
        image, text, z, z_fg, z_clip, torch.ones_like(mask), labels)["gate_r"])


def test_unknown_ablation_term_is_refused_by_name():
    with pytest.raises(ValueError, match="ABLATION.LOSSES.*kl_pc"):
        ablated_head(LOSSES=["frg", "kl_pc"])
