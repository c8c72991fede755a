"""FVG-PT's learnable modules (spec sections 1-3): two reliability gates and two adapters."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .losses import (backbone_gate_inputs, distillation_loss, foreground_gate_inputs,
                     foreground_gate_loss, foreground_gate_target, prior_calibrated_logits,
                     prior_calibration_loss)


class ReliabilityGate(nn.Module):
    """A scalar gate in (0, 1) from three reliability statistics: sigmoid(MLP(u))."""

    def __init__(self, hidden_dim=32):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, hidden_dim), nn.ReLU(inplace=True),
                                 nn.Linear(hidden_dim, 1))

    def forward(self, stats):
        return torch.sigmoid(self.mlp(stats)).squeeze(-1)


class ForegroundReliabilityGate(ReliabilityGate):
    """FRG: r from u = [H(p_full) - H(p_fg), cos(p_full, p_fg), A(m)] (spec eq. 1)."""


class BackboneReliabilityGate(ReliabilityGate):
    """BRG: b from s = [H(p_full), H(p_CLIP), cos(p_full, p_CLIP)] (spec eq. 3)."""


class ResidualAdapter(nn.Module):
    """Bottleneck adapter with a residual connection: L2Norm(x + A(x)) (spec eq. 2)."""

    def __init__(self, dim, bottleneck_dim=64, init_scale=1e-3):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck_dim)
        self.up = nn.Linear(bottleneck_dim, dim)
        with torch.no_grad():  # start near the identity: the backbone's own prediction
            self.up.weight.mul_(init_scale)
            self.up.bias.mul_(init_scale)

    def forward(self, x):
        return F.normalize(x + self.up(F.relu(self.down(x))), dim=-1)


class FVGPTHead(nn.Module):
    """Everything FVG-PT trains (FDC adapters, FRG, BRG) and how its outputs combine.

    The frozen backbone supplies L2-normalised image features f(x), class text
    features g(t) and logits z(x), z(x_fg), z_CLIP(x); nothing here touches it.
    """

    def __init__(self, embed_dim, adapter_dim=64, gate_dim=32, adapter_init_scale=1e-3,
                 tau=2.0, fdc_logit_scale=100.0, lambda_dist=10.0, lambda_new=1.0,
                 detach_gate=True):
        super().__init__()
        self.visual_adapter = ResidualAdapter(embed_dim, adapter_dim, adapter_init_scale)
        self.text_adapter = ResidualAdapter(embed_dim, adapter_dim, adapter_init_scale)
        self.foreground_gate = ForegroundReliabilityGate(gate_dim)
        self.backbone_gate = BackboneReliabilityGate(gate_dim)
        self.tau = tau
        self.fdc_logit_scale = fdc_logit_scale
        self.lambda_dist = lambda_dist
        self.lambda_new = lambda_new
        self.detach_gate = detach_gate

    @classmethod
    def from_config(cls, fvgpt_cfg, embed_dim, backbone_logit_scale):
        """Build from the ``TRAINER.FVGPT`` config node.

        s_FDC is ``FDC_LOGIT_SCALE``, or the backbone's own logit scale when that is 0, so that
        z_FDC starts equal to the backbone's z(x) (spec Sec. 2).
        """
        fdc_logit_scale = fvgpt_cfg.FDC_LOGIT_SCALE or float(backbone_logit_scale)
        return cls(embed_dim, fvgpt_cfg.ADAPTER_DIM, fvgpt_cfg.GATE_DIM,
                   fvgpt_cfg.ADAPTER_INIT_SCALE, fvgpt_cfg.TAU, fdc_logit_scale,
                   fvgpt_cfg.LAMBDA_DIST, fvgpt_cfg.LAMBDA_NEW, fvgpt_cfg.DETACH_GATE)

    def fdc_logits(self, image_features, text_features):
        """Sec. 2: z_FDC(x) = s_FDC * f~(x)^T g~(t)."""
        image = self.visual_adapter(image_features)
        text = self.text_adapter(text_features)
        return self.fdc_logit_scale * image @ text.t()

    def pc_logits(self, logits, logits_clip):
        """Sec. 3: the BRG's b and z_PC; returns (z_PC, b)."""
        b = self.backbone_gate(backbone_gate_inputs(logits, logits_clip, self.tau))
        return prior_calibrated_logits(b, logits, logits_clip), b

    def losses(self, image_features, text_features, logits, logits_fg, logits_clip,
               mask, labels):
        """The training loss L = L_base + lambda_new * L_PC and its terms (Sec. 1-3)."""
        r = self.foreground_gate(foreground_gate_inputs(logits, logits_fg, mask, self.tau))
        loss_frg = foreground_gate_loss(r, foreground_gate_target(logits, logits_fg, labels))

        logits_fdc = self.fdc_logits(image_features, text_features)
        r_dist = r.detach() if self.detach_gate else r
        loss_dist = distillation_loss(r_dist, logits_fg, logits, logits_fdc, self.tau)
        loss_base = F.cross_entropy(logits_fdc, labels) + loss_frg + self.lambda_dist * loss_dist

        logits_pc, b = self.pc_logits(logits, logits_clip)
        loss_pc = prior_calibration_loss(logits_pc, logits_clip, labels, self.tau)

        return {
            "loss": loss_base + self.lambda_new * loss_pc,
            "loss_base": loss_base, "loss_frg": loss_frg, "loss_dist": loss_dist,
            "loss_pc": loss_pc, "gate_r": r.mean(), "gate_b": b.mean(),
            "logits_fdc": logits_fdc, "logits_pc": logits_pc,
        }
