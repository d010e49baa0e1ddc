"""LoRA training runs: the plan, the job kind, the checkpoints and the registered model."""
