"""The simulated kernel: names follow mm/. Never prints; never imports click or rich."""
