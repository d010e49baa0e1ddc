"""FLUX.1: the family object (family), where its 12 B weights go (memory_plan, placement), how its LoRA trains
(training_recipe) and kohya's key layout for its LoRA files (kohya_keys)."""
