"""FLUX.2 [klein]: the family object (family), where its weights go (memory_plan, placement)."""
