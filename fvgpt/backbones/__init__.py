"""One adapter per backbone (contract: base.py; the list: registry.py): each exposes a frozen,
tuned model to FVG-PT."""
