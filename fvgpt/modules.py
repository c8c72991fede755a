"""FVG-PT's learnable modules (docs/spec.md, paper Sec. 3.2-3.4): two reliability gates and two adapters."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .losses import (backbone_gate_inputs, distillation_loss, foreground_gate_inputs,
                     foreground_gate_loss, foreground_gate_target, prior_calibrated_logits,
                     prior_calibration_loss)


class ReliabilityGate(nn.Module):
    """A scalar gate in (0, 1) from three reliability statistics: sigmoid(MLP(u)).

    ``fixed`` in [0, 1] replaces the gate by that constant and ``inputs`` keeps only the
    listed statistics (the others are fed as 0, which removes them from the MLP): both are
    ablations (paper Tables 3 and 6), off by default.
    """

    def __init__(self, hidden_dim=32, fixed=None, inputs=(0, 1, 2)):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, hidden_dim), nn.ReLU(inplace=True),
                                 nn.Linear(hidden_dim, 1))
        self.fixed = fixed
        self.register_buffer("input_mask", torch.zeros(3), persistent=False)
        self.input_mask[list(inputs)] = 1.0

    def forward(self, stats):
        if self.fixed is not None:
            return stats.new_full(stats.shape[:-1], self.fixed)
        return torch.sigmoid(self.mlp(stats * self.input_mask)).squeeze(-1)


class ForegroundReliabilityGate(ReliabilityGate):
    """FRG: r from u = [H(p_full) - H(p_fg), cos(p_full, p_fg), A(m)] (Eq. 5)."""


class BackboneReliabilityGate(ReliabilityGate):
    """BRG: b from s = [H(p_full), H(p_CLIP), cos(p_full, p_CLIP)] (Eq. 13)."""


class ResidualAdapter(nn.Module):
    """Bottleneck adapter with a residual connection: L2Norm(x + A(x)) (Eq. 7)."""

    def __init__(self, dim, bottleneck_dim=64, init_scale=1e-3):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck_dim)
        self.up = nn.Linear(bottleneck_dim, dim)
        with torch.no_grad():  # start near the identity: the backbone's own prediction
            self.up.weight.mul_(init_scale)
            self.up.bias.mul_(init_scale)

    def forward(self, x):
        return F.normalize(x + self.up(F.relu(self.down(x))), dim=-1)


LOSS_TERMS = ("frg", "fdc_ce", "dist", "pc_ce", "pc_kl")  # the five terms of paper Table 12


class FVGPTHead(nn.Module):
    """Everything FVG-PT trains (FDC adapters, FRG, BRG) and how its outputs combine.

    The frozen backbone supplies L2-normalised image features f(x), class text
    features g(t) and logits z(x), z(x_fg), z_CLIP(x); nothing here touches it.
    """

    def __init__(self, embed_dim, adapter_dim=64, gate_dim=32, adapter_init_scale=1e-3,
                 tau=2.0, fdc_logit_scale=100.0, lambda_dist=10.0, lambda_new=1.0,
                 detach_gate=True, ablation=None):
        super().__init__()
        ablation = ablation or {}
        self.visual_adapter = ResidualAdapter(embed_dim, adapter_dim, adapter_init_scale)
        self.text_adapter = (ResidualAdapter(embed_dim, adapter_dim, adapter_init_scale)
                             if ablation.get("text_adapter", True) else None)
        self.foreground_gate = ForegroundReliabilityGate(
            gate_dim, ablation.get("fixed_r"), ablation.get("frg_inputs", (0, 1, 2)))
        self.backbone_gate = BackboneReliabilityGate(
            gate_dim, ablation.get("fixed_b"), ablation.get("brg_inputs", (0, 1, 2)))
        self.loss_terms = set(ablation.get("losses", LOSS_TERMS))
        self.tau = tau
        self.fdc_logit_scale = fdc_logit_scale
        self.lambda_dist = lambda_dist
        self.lambda_new = lambda_new
        self.detach_gate = detach_gate

    @classmethod
    def from_config(cls, fvgpt_cfg, embed_dim, backbone_logit_scale):
        """Build from the ``TRAINER.FVGPT`` config node.

        s_FDC is ``FDC_LOGIT_SCALE``, or the backbone's own logit scale when that is 0, so that
        z_FDC starts equal to the backbone's z(x) (docs/spec.md, Eq. 8).
        """
        fdc_logit_scale = fvgpt_cfg.FDC_LOGIT_SCALE or float(backbone_logit_scale)
        abl = fvgpt_cfg.ABLATION
        unknown = set(abl.LOSSES) - set(LOSS_TERMS)
        if unknown:
            raise ValueError(f"TRAINER.FVGPT.ABLATION.LOSSES has unknown terms {sorted(unknown)}; "
                             f"choose from {LOSS_TERMS}")
        for key in ("FRG_INPUTS", "BRG_INPUTS"):
            if not set(abl[key]) <= {0, 1, 2}:
                raise ValueError(f"TRAINER.FVGPT.ABLATION.{key} lists indices of the gate's three "
                                 f"statistics (0, 1, 2), got {list(abl[key])}")
        ablation = {"losses": abl.LOSSES, "text_adapter": abl.TEXT_ADAPTER,
                    "fixed_r": None if abl.FIXED_R < 0 else abl.FIXED_R,
                    "fixed_b": None if abl.FIXED_B < 0 else abl.FIXED_B,
                    "frg_inputs": abl.FRG_INPUTS, "brg_inputs": abl.BRG_INPUTS}
        return cls(embed_dim, fvgpt_cfg.ADAPTER_DIM, fvgpt_cfg.GATE_DIM,
                   fvgpt_cfg.ADAPTER_INIT_SCALE, fvgpt_cfg.TAU, fdc_logit_scale,
                   fvgpt_cfg.LAMBDA_DIST, fvgpt_cfg.LAMBDA_NEW, fvgpt_cfg.DETACH_GATE, ablation)

    def fdc_logits(self, image_features, text_features):
        """Eq. (8): z_FDC(x) = s_FDC * f~(x)^T g~(t)."""
        image = self.visual_adapter(image_features)
        text = text_features if self.text_adapter is None else self.text_adapter(text_features)
        return self.fdc_logit_scale * image @ text.t()

    def pc_logits(self, logits, logits_clip):
        """Eq. (12)-(13): the BRG's b and z_PC; returns (z_PC, b)."""
        b = self.backbone_gate(backbone_gate_inputs(logits, logits_clip, self.tau))
        return prior_calibrated_logits(b, logits, logits_clip), b

    def losses(self, image_features, text_features, logits, logits_fg, logits_clip,
               mask, labels):
        """The training loss L = L_base (Eq. 10) + lambda_new * L_PC (Eq. 15) and its terms.

        A term left out of ``loss_terms`` (an ablation) is still reported but not optimised.
        """
        keep = {t: float(t in self.loss_terms) for t in LOSS_TERMS}
        if self.foreground_gate.fixed is not None:
            keep["frg"] = 0.0  # a constant r has nothing to learn
        r = self.foreground_gate(foreground_gate_inputs(logits, logits_fg, mask, self.tau))
        loss_frg = foreground_gate_loss(r, foreground_gate_target(logits, logits_fg, labels))

        logits_fdc = self.fdc_logits(image_features, text_features)
        r_dist = r.detach() if self.detach_gate else r
        loss_dist = distillation_loss(r_dist, logits_fg, logits, logits_fdc, self.tau)
        loss_base = (keep["fdc_ce"] * F.cross_entropy(logits_fdc, labels)
                     + keep["frg"] * loss_frg + keep["dist"] * self.lambda_dist * loss_dist)

        logits_pc, b = self.pc_logits(logits, logits_clip)
        ce_pc, kl_pc = prior_calibration_loss(logits_pc, logits_clip, labels, self.tau)
        loss_pc = keep["pc_ce"] * ce_pc + keep["pc_kl"] * kl_pc

        return {
            "loss": loss_base + self.lambda_new * loss_pc,
            "loss_base": loss_base, "loss_frg": loss_frg, "loss_dist": loss_dist,
            "loss_pc": loss_pc, "gate_r": r.mean(), "gate_b": b.mean(),
            "logits_fdc": logits_fdc, "logits_pc": logits_pc,
        }
