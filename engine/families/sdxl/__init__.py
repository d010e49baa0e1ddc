"""SDXL: the family object (family) and how its LoRA trains (training_recipe). The template for a UNet family."""
