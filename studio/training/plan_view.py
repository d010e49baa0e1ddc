"""A stored plan as the member sees it before starting the run: each value with where it came from, the ETA,
the memory and the disk it takes."""

from __future__ import annotations

from storage.records import TrainingRun
from studio.training.api import SOURCE_LABELS, PlanRow, PlanView
from studio.training.plans import StoredPlan

ROWS = (  # (config field, label)
    ("steps", "Steps"),
    ("batch_size", "Batch size"),
    ("grad_accum", "Gradient accumulation"),
    ("gradient_checkpointing", "Gradient checkpointing"),
    ("mixed_precision", "Precision"),
    ("rank", "Rank (alpha)"),
    ("learning_rate", "Learning rate"),
    ("resolution", "Resolution"),
    ("optimizer", "Optimizer"),
    ("train_text_encoder", "Text encoder"),
)


def _shown(plan: StoredPlan, field_name: str) -> str:
    value = getattr(plan.config, field_name)
    if field_name == "rank":
        return f"{value} ({plan.config.alpha:g})"
    if field_name == "gradient_checkpointing":
        return "on" if value else "off"
    if field_name == "train_text_encoder":
        return "trained too" if value else "frozen (UNet only)"
    if field_name == "mixed_precision":
        return {"no": "fp32", "bf16": "bf16", "fp16": "fp16"}.get(value, value)
    if field_name == "resolution":
        return f"{value}px"
    if field_name == "learning_rate":
        return f"{value:g}"
    return str(value)


def prior_text(plan: StoredPlan) -> str:
    """The plan's prior-preservation row: how many base-model images, drawn from what, at what weight."""
    config = plan.config
    if not config.prior_images:
        return "off"
    prompts = config.prior_prompts
    source = f"the model's own prompts, e.g. '{prompts[0]}'" if prompts else "the set's captions without the trigger"
    return f"{config.prior_images} images the base model draws from {source}; weight {config.prior_weight:g}"


def plan_view(run: TrainingRun, summary: str, weak: int) -> PlanView:
    plan = StoredPlan.from_json(run.plan)
    rows = [
        PlanRow(label, _shown(plan, name), SOURCE_LABELS.get(plan.source_of(name), "model preset"))
        for name, label in ROWS
    ]
    rows.append(PlanRow("Prior preservation", prior_text(plan), SOURCE_LABELS[plan.source_of("prior_images")]))
    if plan.config.text_encoder_offload:  # FLUX on a GPU too small to keep T5 beside the training
        source = SOURCE_LABELS.get(plan.source_of("text_encoder_offload", "memory"), "model preset")
        rows.append(PlanRow("T5 text encoder", "in host memory while it trains", source))
    worker = plan.worker
    if worker:  # plans made before workers were asked have none
        gpu = f"{worker.gpu or 'GPU'}, {worker.gpu_memory_gb:.0f} GB" if worker.gpu_memory_gb else "no GPU"
        rows.append(PlanRow("Sized for", f"{worker.name} ({worker.device}, {gpu})", SOURCE_LABELS["worker"]))
    return PlanView(
        run_id=run.id,
        model_name=run.output_name,
        requested_name=plan.requested_name or run.output_name,
        set_name=run.set_name,
        base_model=run.base_model,
        trigger_word=run.trigger_word or "",
        images=plan.images,
        samples=plan.samples,
        rows=tuple(rows),
        estimate_s=plan.estimate_s,
        disk_bytes=plan.disk_bytes,
        memory_gb=plan.memory_gb,
        budget_gb=plan.budget_gb,
        set_summary=summary,
        weak_images=weak,
        below_minimum=plan.below_minimum,
        estimate_range=plan.estimate_range,
        estimate_basis=plan.estimate_basis,
    )
