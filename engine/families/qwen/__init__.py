"""Qwen-Image: the family object (family), its pipelines that guide by true CFG (pipelines), where its weights go
(memory_plan, placement)."""
