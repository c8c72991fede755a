"""FVG-PT's equations, each written once; numbers are the paper's (docs/spec.md).

Every distribution is p = softmax(z / tau_d); functions take logits and tau so
that logarithms come from ``log_softmax`` (exact where probabilities underflow).
Per-sample quantities have shape (B,); losses are batch means.
"""
import torch
import torch.nn.functional as F


def soften(logits, tau):
    """Eq. (4), (8), (14): p = softmax(z / tau_d)."""
    return F.softmax(logits / tau, dim=-1)


def entropy(logits, tau):
    """H(p) per sample, p = softmax(z / tau_d)."""
    log_p = F.log_softmax(logits / tau, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def kl_divergence(logits_p, logits_q, tau):
    """KL(p || q) per sample, p = softmax(z_p / tau_d), q = softmax(z_q / tau_d)."""
    log_p = F.log_softmax(logits_p / tau, dim=-1)
    log_q = F.log_softmax(logits_q / tau, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def prob_cosine(logits_p, logits_q, tau):
    """cos(p, q) of the two probability vectors."""
    return F.cosine_similarity(soften(logits_p, tau), soften(logits_q, tau), dim=-1)


def foreground_area(mask):
    """A(m): foreground area over image area of each (B, [1,] H, W) binary mask."""
    return mask.flatten(1).float().mean(1)


def foreground_gate_inputs(logits_full, logits_fg, mask, tau):
    """Eq. (5): u = [H(p_full) - H(p_fg), cos(p_full, p_fg), A(m)]."""
    return torch.stack([entropy(logits_full, tau) - entropy(logits_fg, tau),
                        prob_cosine(logits_full, logits_fg, tau),
                        foreground_area(mask)], dim=-1)


def foreground_gate_target(logits_full, logits_fg, labels):
    """Eq. (3): r* = 1[CE(z(x_fg), y) < CE(z(x), y)]."""
    ce_fg = F.cross_entropy(logits_fg, labels, reduction="none")
    ce_full = F.cross_entropy(logits_full, labels, reduction="none")
    return (ce_fg < ce_full).float()


def foreground_gate_loss(r, r_target):
    """Eq. (6): L_FRG = BCE(r, r*)."""
    return F.binary_cross_entropy(r, r_target)


def distillation_loss(r, logits_fg, logits_full, logits_fdc, tau):
    """Eq. (9): L_dist = r KL(p_fg || p_FDC) + (1 - r) KL(p_full || p_FDC)."""
    return (r * kl_divergence(logits_fg, logits_fdc, tau)
            + (1 - r) * kl_divergence(logits_full, logits_fdc, tau)).mean()


def backbone_gate_inputs(logits, logits_clip, tau):
    """Eq. (13): s = [H(p_full), H(p_CLIP), cos(p_full, p_CLIP)]."""
    return torch.stack([entropy(logits, tau), entropy(logits_clip, tau),
                        prob_cosine(logits, logits_clip, tau)], dim=-1)


def prior_calibrated_logits(b, logits, logits_clip):
    """Eq. (12): z_PC = (1 - b) z(x) + b z_CLIP(x)."""
    b = b.unsqueeze(-1)
    return (1 - b) * logits + b * logits_clip


def prior_calibration_loss(logits_pc, logits_clip, labels, tau):
    """Eq. (15): L_PC = CE(z_PC, y) + KL(p_CLIP || softmax(z_PC / tau_d)); returns the two terms."""
    return F.cross_entropy(logits_pc, labels), kl_divergence(logits_clip, logits_pc, tau).mean()
