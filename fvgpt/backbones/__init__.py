"""One adapter per backbone: each exposes a frozen, tuned model to FVG-PT."""
