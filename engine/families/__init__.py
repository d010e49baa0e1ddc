"""What differs between model families: the `Family` Protocol (base), one folder per family declaring its object
(sd15/, sdxl/, flux/; the UNet families share unet.py), the registry keyed by family id (registry), and how a LoRA
file's family is read (lora_detect). docs/adding-a-family.md walks through adding one."""
