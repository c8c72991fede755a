"""Index samplers for the data loaders."""
from torch.utils.data.sampler import RandomSampler, SequentialSampler

__all__ = ["AVAI_SAMPLERS", "build_sampler"]

AVAI_SAMPLERS = ["RandomSampler", "SequentialSampler"]
# Dassl's domain/class-balanced samplers, not part of the built-in engine.
_DASSL_ONLY_SAMPLERS = ["RandomDomainSampler", "SeqDomainSampler", "RandomClassSampler"]


def build_sampler(sampler_type, cfg=None, data_source=None, batch_size=32, n_domain=0, n_ins=16):
    """Sampler over ``data_source`` (other arguments are there for Dassl's signature)."""
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    if sampler_type in _DASSL_ONLY_SAMPLERS:
        raise ValueError(
            f"Sampler {sampler_type} is not available in fvgpt's built-in Dassl engine "
            f"(available: {AVAI_SAMPLERS}); install Dassl to use it"
        )
    raise ValueError(f"Unknown sampler type: {sampler_type} (available: {AVAI_SAMPLERS})")
