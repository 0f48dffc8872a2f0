"""The GRPO-style loss pieces of RFT: group-relative advantages, group filters, the clipped
policy loss with its aggregations, and the k3 KL estimate."""
from __future__ import annotations

import torch

SCALES = ("group", "batch", "none")
AGGREGATIONS = ("sequence", "token", "constant")
FILTERS = ("zero_variance", "no_success", "none")
EPS = 1e-4  # added to the std before dividing, as in TRL


def group_advantages(rewards: torch.Tensor, scale: str) -> torch.Tensor:
    """(r - group mean) for rewards [B, G], divided by the group std, the batch std or nothing."""
    centred = rewards - rewards.mean(1, keepdim=True)
    if scale == "group":
        return centred / (rewards.std(1, keepdim=True) + EPS)
    if scale == "batch":
        return centred / (rewards.std() + EPS)
    return centred


def aggregate(values: torch.Tensor, mask: torch.Tensor, aggregation: str, max_new_tokens: int) -> torch.Tensor:
    """Reduce per-token values [N, T] over the masked tokens: per-sequence mean then mean
    (`sequence`), mean over all tokens (`token`), or sum / (N * max_new_tokens) (`constant`)."""
    total = torch.where(mask, values, 0.0)
    if aggregation == "sequence":
        return (total.sum(1) / mask.sum(1).clamp(min=1)).mean()
    if aggregation == "token":
        return total.sum() / mask.sum().clamp(min=1)
    return total.sum() / (values.shape[0] * max_new_tokens)


def clipped_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float,
    eps_high: float,
    aggregation: str,
    max_new_tokens: int,
) -> torch.Tensor:
    """-min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A) per token, aggregated.

    logp, old_logp, mask: [N, T]; advantages: [N] (one per sequence)."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - eps_low, 1 + eps_high) * adv)
    return aggregate(-surrogate, mask, aggregation, max_new_tokens)


def clip_fraction(ratio: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, eps_low: float, eps_high: float):
    """Share of completion tokens whose gradient the clip removes."""
    adv = advantages[:, None]
    clipped = ((ratio < 1 - eps_low) & (adv < 0)) | ((ratio > 1 + eps_high) & (adv > 0))
    return (clipped & mask).sum() / mask.sum().clamp(min=1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference): exp(d) - d - 1 with d = ref - logp."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def keep_groups(rewards: torch.Tensor, success: torch.Tensor, rule: str) -> torch.Tensor:
    """Bool [B]: the groups kept by `rule` ([B, G] rewards and successes). zero_variance (DAPO):
    groups whose rewards differ, the only ones with a nonzero advantage, also under a graded reward;
    no_success (RIF-RFT): groups with at least one success; none: every group."""
    if rule == "zero_variance":
        return (rewards != rewards[:, :1]).any(1)
    if rule == "no_success":
        return success.any(1)
    return torch.ones(rewards.shape[0], dtype=torch.bool, device=rewards.device)
