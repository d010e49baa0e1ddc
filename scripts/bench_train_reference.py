"""The reference side of the LoRA training benchmark: diffusers' example recipe, written plainly, each step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bench_train_measure import StepClock  # scripts/ is on sys.path when bench_train.py runs
from PIL import Image

from engine.diffusion.loading import load_folder
from engine.training.recipes import UNET_TARGETS
from engine.training.types import TrainConfig, TrainItem


def run_reference(
    folder: Path,
    family: str,
    cfg: TrainConfig,
    items: tuple[TrainItem, ...],
    device: torch.device,
    dtype: torch.dtype,
) -> Callable[[StepClock], float]:
    """The diffusers example recipe per step: nothing cached; the same LoRA, optimizer and loss as the trainer.

    Images are decoded and normalised once and kept on the device (the example does it in its data loader
    every step): that only makes the reference faster. The LoRA trains in fp32 on both sides.
    """

    def run(clock: StepClock) -> float:
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import cast_training_params, compute_snr
        from peft import LoraConfig

        pipe = load_folder(folder, family, dtype=dtype).to(device)  # a plain pipeline, as the example loads it
        clock.begin()
        unet, vae = pipe.unet, pipe.vae
        sdxl = family == "sdxl"
        encoders = [pipe.text_encoder, pipe.text_encoder_2] if sdxl else [pipe.text_encoder]
        tokenizers = [pipe.tokenizer, pipe.tokenizer_2] if sdxl else [pipe.tokenizer]
        for module in (unet, vae, *encoders):
            module.requires_grad_(False)
        torch.manual_seed(cfg.seed)  # the LoRA starts from the trainer's initial weights
        lora = LoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            init_lora_weights="gaussian",
            target_modules=list(UNET_TARGETS),
            lora_dropout=0.0,
        )
        unet.add_adapter(lora, adapter_name="reference")
        cast_training_params(unet, dtype=torch.float32)
        params = [p for p in unet.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=1e-2)
        schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=cfg.warmup_steps)
        noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        if cfg.gradient_checkpointing:
            unet.enable_gradient_checkpointing()

        images, sizes = [], []
        for item in items:
            with Image.open(item.path) as img:
                rgb = img.convert("RGB")
            sizes.append([rgb.height, rgb.width, 0, 0, cfg.resolution, cfg.resolution])
            rgb = rgb.resize((cfg.resolution, cfg.resolution), Image.Resampling.LANCZOS)
            images.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1))
        pixels = torch.stack(images).to(device, vae.dtype)
        time_ids = torch.tensor(sizes, dtype=torch.float32, device=device)
        captions = [item.caption for item in items] + [""]  # the last row: the empty caption (dropout)
        token_ids = [
            tok(
                captions, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt"
            ).input_ids.to(device)
            for tok in tokenizers
        ]

        g = torch.Generator("cpu").manual_seed(cfg.seed)
        per_epoch = len(items) // cfg.batch_size
        order = torch.randperm(len(items), generator=g)
        unet.train()
        loss_value = float("nan")
        for step in range(1, cfg.steps + 1):
            index = (step - 1) % per_epoch
            if index == 0 and step > 1:
                order = torch.randperm(len(items), generator=g)
            batch = order[index * cfg.batch_size : (index + 1) * cfg.batch_size].to(device)
            dropped = torch.rand(len(batch), generator=g) < cfg.caption_dropout
            rows = torch.where(dropped.to(device), len(items), batch)
            with torch.no_grad():
                latents = vae.encode(pixels[batch]).latent_dist.sample().float() * vae.config.scaling_factor
                hidden, pooled = [], None
                for encoder, ids in zip(encoders, token_ids, strict=True):
                    out = encoder(ids[rows], output_hidden_states=sdxl)
                    hidden.append(out.hidden_states[-2] if sdxl else out[0])
                    pooled = out[0]  # SDXL: the second encoder's projection
                text = torch.cat(hidden, dim=-1)
            noise = torch.randn(latents.shape, device=device)
            if cfg.noise_offset:
                noise = noise + cfg.noise_offset * torch.randn((len(batch), latents.shape[1], 1, 1), device=device)
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(batch),), device=device)
            noisy = noise_scheduler.add_noise(latents, noise, timesteps)
            extra = {}
            if sdxl:
                assert pooled is not None
                extra["added_cond_kwargs"] = {"text_embeds": pooled.to(dtype), "time_ids": time_ids[batch].to(dtype)}
            pred = unet(noisy.to(dtype), timesteps, text.to(dtype), **extra).sample
            if noise_scheduler.config.prediction_type == "v_prediction":
                target = noise_scheduler.get_velocity(latents, noise, timesteps)
            else:
                target = noise
            per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=[1, 2, 3])
            if cfg.min_snr_gamma is not None:
                snr = compute_snr(noise_scheduler, timesteps).clamp(min=1e-8)
                weight = snr.clamp(max=cfg.min_snr_gamma)
                v_pred = noise_scheduler.config.prediction_type == "v_prediction"
                per_sample = per_sample * weight / (snr + 1 if v_pred else snr)
            loss = per_sample.mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = loss.item()  # the example logs it every step (a synchronisation, as in the trainer)
            clock.tick(step)
        return loss_value

    return run
