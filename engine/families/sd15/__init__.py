"""Stable Diffusion 1.5: the family object (family) and how its LoRA trains (training_recipe)."""
