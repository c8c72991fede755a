"""The FVG-PT trainers ``FVGPT_<backbone>``, registered in Dassl's TRAINER_REGISTRY when
``fvgpt`` is imported: one per record of ``fvgpt.backbones.registry.BACKBONES``
(FVGPT_CoOp, FVGPT_KgCoOp, FVGPT_PromptSRC, FVGPT_MMRL).

Each is the shared ``FVGPTTrainer`` on its backbone's adapter; ``--trainer FVGPT_<backbone>``
selects it, with TRAINER.FVGPT.BACKBONE_DIR the backbone run's --output-dir (same data set
and seed).
"""
from dassl.engine import TRAINER_REGISTRY

from .backbones.registry import BACKBONES
from .trainer import FVGPTTrainer


def register_fvgpt_trainer(record):
    """Register (and return) ``FVGPT_<name>``: ``FVGPTTrainer`` on ``record.adapter``."""
    trainer = type(record.fvgpt_trainer, (FVGPTTrainer,), {
        "backbone_class": record.adapter, "__module__": __name__,
        "__doc__": f"FVG-PT on a frozen {record.name} run (TRAINER.FVGPT.BACKBONE_DIR)."})
    TRAINER_REGISTRY.register(trainer)
    globals()[trainer.__name__] = trainer  # importable as fvgpt.trainers.FVGPT_<name>
    return trainer


for _record in BACKBONES.values():
    register_fvgpt_trainer(_record)
