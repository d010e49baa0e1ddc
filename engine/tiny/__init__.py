"""Tiny models for tests and `make demo`: SD 1.5 and SDXL with random weights (models), FLUX.1 (flux), and the Tiny
World model trained on toy scenes (world/)."""
