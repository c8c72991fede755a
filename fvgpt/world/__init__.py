"""FG-World: the embedded procedural foreground benchmark and its tiny pre-trained CLIP.

``classes`` (vocabulary, class order, captions), ``render`` (one scene and its
exact mask), ``generate`` (the benchmark on disk, ``ensure_world``),
``tiny_clip`` (the small CLIP pre-trained on captioned scenes). See README.md.
"""
