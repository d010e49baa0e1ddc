"""The LoRA training loop, on the generation pipeline's own UNet, a step at a time.

Between two steps the worker may run other members' generations on the same pipeline (the yield point):
trainer notes §3 give the protocol that keeps the run exact — the UNet in eval mode and seeded generators
while others use it, the training adapter made active (and checked trainable) again before each step, no
dtype casts or fusing mid-run. Every random draw of the run comes from one private generator, saved in each
checkpoint with the optimizer and the global RNG states, so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from engine.backends.base import WorkContext
from engine.diffusion.lora import peft_as_intended
from engine.errors import EngineError, OutOfMemory, Stopped
from engine.families.registry import denoiser_name, family_of
from engine.training import checkpoint
from engine.training.autoconfig import out_of_memory_advice
from engine.training.data import Prepared, prepare
from engine.training.prior import prior_items, prior_prompts
from engine.training.recipes import recipe_for
from engine.training.samples import Samples, Shot
from engine.training.text_lora import TextEncoderLora, split
from engine.training.types import SAMPLE_SCALES, Checkpoint, TrainOutcome, TrainTask

log = logging.getLogger(__name__)


class Trainer:
    """One run: `run(ctx)` trains from the newest checkpoint in the run's folder (or from scratch)."""

    def __init__(self, task: TrainTask, pipe: Any, samples: Samples) -> None:
        self.task = task
        self.config = task.config
        self.pipe = pipe
        self.recipe = recipe_for(task.model.family, task.model.preset.max_sequence_length)
        self.unet = self.recipe.denoiser(pipe)  # the module the LoRA trains (named for the UNet families)
        self.device = self.unet.device
        self.samples = samples
        self.generator = torch.Generator("cpu").manual_seed(self.config.seed)
        self.losses: list[float] = []
        self.checkpoints: list[Checkpoint] = []
        self.started = time.time()
        self.dtype = self.unet.dtype  # read once: diffusers walks every module to answer it
        # Whether anything touched the pipeline since the last step (a generation, the samples): only then is
        # the training adapter made active and the UNet put back in training mode, which walk every module.
        self._dirty = True
        self.objective = self.recipe.objective(pipe, self.config.min_snr_gamma)
        self.text: TextEncoderLora | None = None  # the text encoder's LoRA, when it trains too
        self.prior: Prepared | None = None  # the base model's own images, when prior preservation is on

    # 1. Set-up ---------------------------------------------------------------------------------------------

    def _add_adapters(self) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """The UNet's LoRA, and the text encoder's when it trains too: (UNet parameters, text encoder's)."""
        params = self._add_adapter()
        if not self.config.train_text_encoder:
            return params, []
        encoder = self.recipe.text_encoder(self.pipe)
        if encoder is None:
            raise EngineError(f"Text-encoder training is not available for {self.task.model.family} models.")
        self.text = TextEncoderLora(encoder, self.task.adapter)
        return params, self.text.add(self.config.rank, float(self.config.alpha))

    def _add_adapter(self) -> list[torch.nn.Parameter]:
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        name = self.task.adapter
        if name in (getattr(self.unet, "peft_config", None) or {}):
            with peft_as_intended():
                self.unet.delete_adapters([name])  # a previous attempt in this process
        self.unet.requires_grad_(False)
        torch.manual_seed(self.config.seed)  # the LoRA's initial weights
        config = LoraConfig(
            r=self.config.rank,
            lora_alpha=float(self.config.alpha),
            init_lora_weights="gaussian",
            target_modules=list(self.recipe.targets),
            lora_dropout=0.0,
        )
        with peft_as_intended():
            self.unet.add_adapter(config, adapter_name=name)
        self.activate_adapter()
        # The LoRA trains in fp32 whatever the base runs in (trainer notes §3).
        cast_training_params(self.unet, dtype=torch.float32)
        # In a fixed order: the optimizer's state is matched by position when a run resumes.
        return [p for n, p in self.unet.named_parameters() if f".{name}." in n]

    def activate_adapter(self) -> None:
        """The training adapter alone, at full weight, trainable (a generation in between may have switched it)."""
        self.unet.enable_adapters()  # a generation without LoRAs switches every adapter layer off
        self.unet.set_adapters([self.task.adapter], weights=[1.0])
        if self.text is not None:
            self.text.activate()

    def _optimizer(self, params: list[torch.nn.Parameter], text: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        lr = self.config.learning_rate
        # Each group keeps its own peak rate ("peak_lr"): the warm-up scales it (and is saved with the state).
        groups: list[dict[str, Any]] = [{"params": params, "lr": lr, "peak_lr": lr}]
        if text:
            groups.append({"params": text, "lr": self.config.te_lr, "peak_lr": self.config.te_lr})
        if self.config.optimizer == "prodigy":
            try:
                from prodigyopt import Prodigy
            except ImportError:
                raise EngineError("The Prodigy optimizer needs `pip install prodigyopt` (or choose adamw).") from None
            # Prodigy estimates the step size itself: the learning rate is a multiplier, 1.0 as its authors advise.
            return Prodigy(groups, lr=lr, weight_decay=1e-2, safeguard_warmup=True, use_bias_correction=True)
        if self.config.optimizer == "adamw8bit" and self.device.type == "cuda":
            try:
                import bitsandbytes as bnb

                return bnb.optim.AdamW8bit(groups, lr=lr, weight_decay=1e-2)
            except ImportError:
                log.warning("bitsandbytes is not installed: training with the plain AdamW")
        # The fused kernel on CUDA: one launch per step instead of one per tensor.
        return torch.optim.AdamW(groups, lr=lr, weight_decay=1e-2, fused=self.device.type == "cuda")

    # 2. One step -------------------------------------------------------------------------------------------

    def _loss(self, data: Prepared, batch: list[int]) -> torch.Tensor:
        g = self.generator
        mean = torch.stack([data.means[i] for i in batch])
        std = torch.stack([data.stds[i] for i in batch])
        latents = self.recipe.latents(self.pipe, mean + std * torch.randn(mean.shape, generator=g))
        noise = torch.randn(latents.shape, generator=g)
        if self.config.noise_offset:
            noise = noise + self.config.noise_offset * torch.randn((len(batch), latents.shape[1], 1, 1), generator=g)
        drawn = self.objective.draw(latents, noise, g)
        dropped = torch.rand(len(batch), generator=g) < self.config.caption_dropout
        sizes: list[tuple[int, ...]] = [data.sizes[i] for i in batch]
        if self.text is not None:  # the text encoder learns too: its captions are encoded now
            captions = ["" if drop else data.captions[i] for i, drop in zip(batch, dropped.tolist(), strict=True)]
            cond = self.recipe.live(self.pipe, captions, sizes, self.device)
        else:
            texts = [data.empty if drop else data.texts[i] for i, drop in zip(batch, dropped.tolist(), strict=True)]
            cond = self.recipe.batch(texts, sizes, self.device)
        dtype = self.dtype
        pred = self.recipe.forward(
            self.unet, drawn.noisy.to(self.device, dtype), drawn.timesteps.to(self.device), _cast(cond, dtype)
        )
        target = drawn.target.to(self.device).float()
        per_sample = F.mse_loss(pred.float(), target, reduction="none").mean(dim=list(range(1, pred.dim())))
        return (per_sample * drawn.weights.to(self.device)).mean()

    def _step(self, step: int, data: Prepared, optimizer: torch.optim.Optimizer, params: list[Any]) -> float:
        cfg = self.config
        # Constant with a linear warm-up (TrainConfig.warmup: at most a tenth of the run): the step alone sets it.
        for group in optimizer.param_groups:
            group["lr"] = group["peak_lr"] * min(1.0, step / max(1, cfg.warmup))
        if self._dirty:
            self.activate_adapter()
            if not all(p.requires_grad for p in params):
                raise EngineError("The training adapter was switched off by another job; the run stops to stay exact.")
            self.unet.train()
            self._dirty = False
        total = 0.0
        epoch_batches = len(data.batches(cfg.seed, 0, cfg.batch_size))
        for micro in range(cfg.grad_accum):
            epoch, index = divmod((step - 1) * cfg.grad_accum + micro, epoch_batches)
            loss = self._loss(data, data.batches(cfg.seed, epoch, cfg.batch_size)[index])
            (loss / cfg.grad_accum).backward()
            if self.prior is not None:  # as many prior images beside them, their own order; a backward each
                prior = self._loss(self.prior, self._prior_batch((step - 1) * cfg.grad_accum + micro))
                (prior * cfg.prior_weight / cfg.grad_accum).backward()
            value = loss.item()  # one wait for the device per micro-step, after the backward pass is queued
            if not math.isfinite(value):
                half = (
                    " The model runs in fp16 on this GPU, which overflows more easily than bf16."
                    if (self.dtype == torch.float16)
                    else ""
                )
                raise EngineError(
                    f"The loss became NaN at step {step}: lower the learning rate (now {cfg.learning_rate:g}) or "
                    f"the rank (now {cfg.rank}), and check the set for broken images.{half}"
                )
            total += value / cfg.grad_accum
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return total

    def _prior_batch(self, micro_step: int) -> list[int]:
        """The prior images of a micro-step: epochs of their own (seed + 1), a function of the step alone."""
        assert self.prior is not None
        seed, size = self.config.seed + 1, self.config.batch_size
        epoch, index = divmod(micro_step, len(self.prior.batches(seed, 0, size)))
        return self.prior.batches(seed, epoch, size)[index]

    def _pause(self) -> None:
        """Before other jobs use the pipeline between two steps: inference mode, as they expect."""
        self.unet.eval()
        if self.text is not None:
            self.text.pause()  # diffusers does not see this adapter: it must not shape others' prompts
        self._dirty = True

    # 3. Checkpoints ----------------------------------------------------------------------------------------

    def _lora_state(self) -> dict[str, torch.Tensor]:
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.unet, adapter_name=self.task.adapter)
        return state | (self.text.state() if self.text is not None else {})

    def _save(self, step: int, optimizer: torch.optim.Optimizer, *, draw: bool = True) -> Checkpoint:
        run_dir = self.task.run_dir
        recent = self.losses[-self.config.every :] or [float("nan")]
        loss = sum(recent) / len(recent)
        shot = self.samples.draw(self, step) if draw else Shot(None, None, None)
        extra = {"loss": loss, "consistency": shot.consistency, "likeness": shot.likeness}
        folder = checkpoint.save(run_dir, step, self._lora_state(), optimizer, self.generator, self.losses, extra)
        lora = self.samples.file(folder / checkpoint.LORA)
        samples = None
        if shot.grid is not None:
            grid_path = folder / "samples.png"
            shot.grid.save(grid_path)
            samples = self.samples.file(grid_path)
        saved = Checkpoint(step, lora, samples, loss, shot.consistency, shot.likeness)
        self.checkpoints = [c for c in self.checkpoints if c.step != step] + [saved]
        log.info("training %s: checkpoint at step %s (loss %.4f)", self.task.output_name, step, loss)
        return saved

    def _earlier_checkpoints(self, upto: int) -> list[Checkpoint]:
        found = []
        for folder in sorted(self.task.run_dir.glob("ckpt-*")):
            state_file = folder / checkpoint.STATE
            if folder.name.endswith(".tmp") or not state_file.is_file():
                continue
            import json

            state = json.loads(state_file.read_text(encoding="utf-8"))
            if state["step"] > upto:
                continue
            grid = folder / "samples.png"
            found.append(
                Checkpoint(
                    state["step"],
                    self.samples.file(folder / checkpoint.LORA),
                    self.samples.file(grid) if grid.is_file() else None,
                    float(state.get("loss", float("nan"))),
                    state.get("consistency"),
                    state.get("likeness"),
                )
            )
        return found

    # 4. The run ---------------------------------------------------------------------------------------------

    def run(self, ctx: WorkContext) -> TrainOutcome:
        cfg = self.config
        ctx.raise_if_cancelled()
        data = prepare(self.pipe, self.recipe, self.task.items, cfg.resolution, self.device)
        preset = self.task.model.preset
        prompts = prior_prompts(cfg, self.task.items, self.task.trigger_word)
        regular = prior_items(
            self.pipe, cfg, prompts, self.task.run_dir, guidance=preset.guidance, scheduler=preset.scheduler
        )
        if regular:  # drawn before any adapter of this run exists: the base model's own images
            self.prior = prepare(self.pipe, self.recipe, regular, cfg.resolution, self.device)
        # The captions are encoded: a large text encoder (FLUX's T5) may wait in host memory, streamed in only to
        # encode a prompt (the samples', a generation's). It stays so after the run, until the model loads again.
        if cfg.text_encoder_offload and family_of(self.recipe.family).offload_text_encoder(self.pipe, str(self.device)):
            log.info(
                "training %s: the text encoder waits in host memory while the denoiser trains", self.task.output_name
            )
        self.samples.reference(self.task.items)
        params, text_params = self._add_adapters()
        optimizer = self._optimizer(params, text_params)
        params = params + text_params
        if cfg.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()  # only while gradients are recorded: generations are unaffected
        try:
            return self._train(ctx, data, params, optimizer)
        finally:
            if cfg.gradient_checkpointing:
                self.unet.disable_gradient_checkpointing()

    def _train(
        self, ctx: WorkContext, data: Prepared, params: list[Any], optimizer: torch.optim.Optimizer
    ) -> TrainOutcome:
        cfg = self.config
        start, resumed_at = 0, None
        newest = checkpoint.latest(self.task.run_dir)
        if newest is not None:
            from peft.utils import set_peft_model_state_dict

            resumed = checkpoint.load(newest, optimizer, self.generator)
            unet_state, text_state = split(resumed.lora)
            set_peft_model_state_dict(self.unet, unet_state, adapter_name=self.task.adapter)
            if self.text is not None:
                self.text.load(text_state)
            start = resumed_at = resumed.step
            self.losses = resumed.losses
            self.checkpoints = self._earlier_checkpoints(start)
            log.info("training %s: resumed at step %s", self.task.output_name, start)
        last_saved = start
        began = time.monotonic()
        for step in range(start + 1, cfg.steps + 1):
            if ctx.cancelled():
                if last_saved < step - 1:
                    self._pause()
                    self._save(step - 1, optimizer, draw=False)  # quick: a shutdown may be waiting on it
                raise Stopped(self.outcome(step - 1, stopped=True, resumed_at=resumed_at))
            try:
                loss = self._step(step, data, optimizer, params)
            except Exception as exc:
                from engine.diffusion.pipelines import is_oom

                if not is_oom(exc):
                    raise
                raise OutOfMemory(out_of_memory_advice(cfg)) from None
            self.losses.append(loss)
            rate = (step - start) * cfg.batch_size * cfg.grad_accum / max(time.monotonic() - began, 1e-9)
            since = f", resumed at step {resumed_at}" if resumed_at else ""
            if step % cfg.every == 0 or step == cfg.steps:
                self._pause()  # the samples are drawn in inference mode
                self._save(step, optimizer)
                last_saved = step
            grids = [c.samples for c in sorted(self.checkpoints, key=lambda c: c.step) if c.samples is not None]
            detail = f"loss {loss:.4f}, {rate:.2f} samples/s{self._scores()}{since}"
            ctx.report(step, cfg.steps, detail, str(grids[-1].path) if grids else None)
            ctx.yield_now(before=self._pause)  # other members' generations run here, between two steps
        outcome = self.outcome(cfg.steps, stopped=False, resumed_at=resumed_at, with_scales=True)
        if ctx.cancelled():  # a cancel after the last step: the run is complete, keep it (not a bare Cancelled)
            raise Stopped(outcome)
        return outcome

    def _scores(self) -> str:
        """The newest checkpoint's consistency score, for the progress line."""
        scored = [c for c in self.checkpoints if c.consistency is not None]
        if not scored:
            return ""
        last = max(scored, key=lambda c: c.step)
        return f", consistency {last.consistency:.3f} at step {last.step}"

    def outcome(
        self, steps_done: int, *, stopped: bool, resumed_at: int | None, with_scales: bool = False
    ) -> TrainOutcome:
        """The files of the run as it stands: the newest checkpoint exported in both formats, the loss plot."""
        from engine.training.export import export_diffusers, export_kohya, metadata
        from engine.training.plot import loss_plot

        meta = metadata(
            self.recipe,
            self.config,
            self.task.items,
            output_name=self.task.output_name,
            trigger_word=self.task.trigger_word,
            steps=steps_done,
            base_name=Path(self.task.model.source).name,
            started_at=self.started,
            lineage=self.task.lineage,
            prediction_type=self.objective.prediction_type,
        )
        folder = self.task.run_dir / "final"
        state = self._lora_state()
        family = self.recipe.family
        name = self.task.output_name
        diffusers_file = export_diffusers(
            folder / f"{name}.safetensors", state, self.config, self.recipe.targets, meta, denoiser_name(family)
        )
        kohya_file = export_kohya(folder / f"{name}_kohya.safetensors", state, self.config, meta, family)
        plot = loss_plot(self.losses, folder / "loss.png", self.samples.file) if self.losses else None
        scales = None
        grid = self.samples.at_scales(self, SAMPLE_SCALES) if with_scales else None
        if grid is not None:
            grid.save(folder / "scales.png")
            scales = self.samples.file(folder / "scales.png")
        return TrainOutcome(
            steps_done=steps_done,
            total_steps=self.config.steps,
            losses=tuple(self.losses),
            checkpoints=tuple(sorted(self.checkpoints, key=lambda c: c.step)),
            lora=diffusers_file,
            kohya=kohya_file,
            loss_plot=plot,
            scales=scales,
            stopped=stopped,
            resumed_at=resumed_at,
            elapsed_s=time.time() - self.started,
        )


def _cast(cond: Any, dtype: torch.dtype) -> Any:
    cond.hidden = cond.hidden.to(dtype)
    cond.extra = {k: v.to(dtype) for k, v in cond.extra.items()}
    return cond
