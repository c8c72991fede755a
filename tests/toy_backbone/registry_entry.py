register_backbone(BackboneRecord(
    "ResidualText", residual_text.ResidualTextBackbone, residual_text.add_config,
    "trainers.residual_text", {"base2new": "world", "xd": "world", "world": "world"}))
