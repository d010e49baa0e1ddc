"""What differs between model families: the shared rules (base), how a LoRA file's family is read (lora_detect), and a
folder per family that needs more (flux/)."""
