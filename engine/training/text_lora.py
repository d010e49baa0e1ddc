"""The optional LoRA on the text encoder (SD 1.5), trained beside the UNet's.

transformers 5.24 with peft 0.21.2 refuses `CLIPTextModel.add_adapter`, so the layers are injected with
`peft.inject_adapter_in_model` (trainer notes §0.5). The model then has no `peft_config`, and diffusers'
`set_adapters`/`disable_lora` do not see this adapter: the trainer switches it off itself before other jobs use
the pipeline between two steps, and on again before its own step. Its tensors travel with the UNet's under the
prefix `text_encoder.` (checkpoints, exports).
"""

from __future__ import annotations

from typing import Any

import torch

from engine.diffusion.lora import peft_as_intended

TE_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")
PREFIX = "text_encoder."


class TextEncoderLora:
    def __init__(self, text_encoder: Any, adapter: str) -> None:
        self.model = text_encoder
        self.adapter = adapter

    def _layers(self) -> list[Any]:
        from peft.tuners.tuners_utils import BaseTunerLayer

        return [m for m in self.model.modules() if isinstance(m, BaseTunerLayer) and self.adapter in m.lora_A]

    def add(self, rank: int, alpha: float) -> list[torch.nn.Parameter]:
        """Inject the adapter (its initial weights from the global RNG, seeded by the caller); its parameters."""
        from peft import LoraConfig, inject_adapter_in_model

        self.remove()  # a previous attempt in this process
        self.model.requires_grad_(False)
        config = LoraConfig(
            r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=list(TE_TARGETS), lora_dropout=0.0
        )
        with peft_as_intended():
            inject_adapter_in_model(config, self.model, adapter_name=self.adapter)
        params = self.params()
        for param in params:
            param.data = param.data.float()  # trains in fp32 whatever the encoder runs in, as the UNet's LoRA
            param.requires_grad_(True)
        return params

    def params(self) -> list[torch.nn.Parameter]:
        # In a fixed order: the optimizer's state is matched by position when a run resumes.
        return [p for n, p in self.model.named_parameters() if f".{self.adapter}." in n]

    def activate(self) -> None:
        for layer in self._layers():
            layer.enable_adapters(True)
            layer.set_adapter(self.adapter)  # also makes its parameters trainable again

    def pause(self) -> None:
        """Off while other jobs use the pipeline: their prompts must not go through this LoRA."""
        for layer in self._layers():
            layer.enable_adapters(False)

    def state(self) -> dict[str, torch.Tensor]:
        """The adapter's tensors, named as peft saves them (`….q_proj.lora_A.weight`), with PREFIX."""
        marker = f".{self.adapter}."
        return {
            PREFIX + name.replace(marker, "."): param.detach().clone()
            for name, param in self.model.named_parameters()
            if marker in name
        }

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the tensors `state` saved (a resumed run)."""
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for key, value in state.items():
                name = key.removeprefix(PREFIX)
                for part in (".lora_A.", ".lora_B."):
                    name = name.replace(part, f"{part}{self.adapter}.")
                params[name].copy_(value)

    def remove(self) -> None:
        with peft_as_intended():
            for layer in self._layers():
                layer.delete_adapter(self.adapter)


def split(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(the UNet's tensors, the text encoder's) of a saved LoRA state."""
    unet = {k: v for k, v in state.items() if not k.startswith(PREFIX)}
    text = {k: v for k, v in state.items() if k.startswith(PREFIX)}
    return unet, text
