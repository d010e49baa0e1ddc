"""Diffusion pipelines: the cache and the generate call (pipelines), loading, LoRA adapters, device and memory choices,
speed (optimize, quantize) and samplers (schedulers)."""
