"""Z-Image (Turbo): the family object (family), its memory plan (memory_plan) and its LoRA markers."""
