"""How a LoRA training looks in Discord: the plan with Start/Cancel, the result card, the checkpoint posts.

The buttons and the select are DynamicItems whose custom_id carries the run's id, so they work after a
restart; the rest comes from the services.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.ui import custom_ids, feedback, render
from bot.ui.buttons import modal_text
from bot.ui.caller import caller_from, services_of
from bot.ui.feedback import Funnel
from bot.ui.render import clip, fmt_eta
from studio.errors import Refused
from studio.images.api import GenerateInput
from studio.training.api import PlanView, RunInfo
from studio.training.pace import estimate_range
from studio.training.results import CheckpointInfo, CheckpointPost, TrainingResult

MAX_OPTIONS = 25  # Discord's limit for a select menu
TRY_PROMPT_ID = "prompt"
COLOUR = 0x57F287


def _gb(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} GB"


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def plan_embed(plan: PlanView) -> discord.Embed:
    renamed = f" (**{plan.requested_name}** is taken)" if plan.model_name != plan.requested_name else ""
    embed = discord.Embed(
        title=f"Train {plan.model_name} on {plan.base_model}",
        description=(
            f"Set **{plan.set_name}**: {plan.images} image(s), trigger word `{plan.trigger_word}`. "
            f"Registered as **{plan.model_name}**{renamed}.\n{clip(plan.set_summary, 300)}"
        ),
        colour=COLOUR,
    )
    rows = "\n".join(f"{row.label}: **{row.value}** · _{row.source}_" for row in plan.rows)
    embed.add_field(name="Settings", value=clip(rows, 1024), inline=False)
    memory = (
        "on the CPU (no GPU memory to size)"
        if plan.memory_gb is None
        else f"≈ {_gb(plan.memory_gb)} of {_gb(plan.budget_gb)} GPU memory"
    )
    embed.add_field(
        name="Estimate",
        value=(
            f"{plan.samples} samples, {_took(plan)}, {memory}, about {_size(plan.disk_bytes)} of disk. "
            "Other members' images keep coming while it trains."
        ),
        inline=False,
    )
    return embed


def _took(plan: PlanView) -> str:
    """The run's time as a range and where it comes from (a measured pace, or a first guess)."""
    if not plan.estimate_basis:
        return fmt_eta(plan.estimate_s)
    return f"{estimate_range(*plan.estimate_range)} ({plan.estimate_basis})"


class StartButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["trgo"]):
    """Start the planned run: it joins the batch queue and its progress replaces the plan."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(
            discord.ui.Button(
                label="Start", style=discord.ButtonStyle.success, custom_id=custom_ids.simple_id("trgo", run_id)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        # A public "thinking…": the run's queue position, progress and result replace it.
        await interaction.response.defer(thinking=True)
        await services_of(interaction).training.start(caller_from(interaction), self.run_id)


class DropButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["trno"]):
    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(
            discord.ui.Button(
                label="Cancel", style=discord.ButtonStyle.secondary, custom_id=custom_ids.simple_id("trno", run_id)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await services_of(interaction).training.drop(caller_from(interaction), self.run_id)
        await interaction.edit_original_response(content="Plan cancelled; nothing was trained.", embed=None, view=None)


def plan_buttons(run_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(StartButton(run_id))
    view.add_item(DropButton(run_id))
    return view


# -- the result ----------------------------------------------------------------------------------------


def _checkpoint_line(number: int, c: CheckpointInfo) -> str:
    chosen = " ← registered" if c.chosen else ""
    return (
        f"{number}. step {c.step}: loss {_score(c.loss)}, consistency {_score(c.consistency)}, "
        f"likeness {_score(c.likeness)}, 👍 {c.votes}{chosen}"
    )


def result_embed(result: TrainingResult) -> discord.Embed:
    if result.model_name is None:
        title = f"Training of {result.output_name} stopped at step {result.steps_done} of {result.total_steps}"
        lead = "Its last checkpoint was kept: register it (or an earlier one) with the menu below."
    else:
        title = f"🎨 {result.model_name} is ready"
        trigger = f", trigger word `{result.trigger_word}`" if result.trigger_word else ""
        lead = (
            f"A LoRA on `{result.base_model}`{trigger}: pick **{result.model_name}** in /generate. "
            "Below, the same prompt and seed at LoRA scale 0.8, 1.0 and 1.2."
        )
    resumed = f" (resumed at step {result.resumed_at})" if result.resumed_at else ""
    embed = discord.Embed(
        title=clip(title, 256),
        description=f"{lead}\n{result.steps_done} steps in {fmt_eta(result.elapsed_s).lstrip('≈ ')}{resumed}.",
        colour=COLOUR,
    )
    if result.checkpoints:
        lines = [_checkpoint_line(n, c) for n, c in enumerate(result.checkpoints, start=1)]
        embed.add_field(name="Checkpoints (vote 👍 on their grids below)", value=clip("\n".join(lines), 1024))
    return embed


async def training_message(result: TrainingResult, limit_bytes: int, mention: int | None) -> render.Rendered:
    """The result card: the scales strip, the loss plot, and the buttons."""
    files = []
    for path, name in ((result.scales_path, "scales.png"), (result.loss_plot_path, "loss.png")):
        if path is not None and path.is_file() and path.stat().st_size <= limit_bytes:
            files.append(await render.image_file(path, f"run{result.run_id}_{name}"))
    embed = result_embed(result)
    if files:
        embed.set_image(url=f"attachment://{files[0].filename}")
    content = f"<@{mention}>" if mention else None
    return render.Rendered(content=content, embed=embed, files=files, view=result_view(result))


async def checkpoint_message(post: CheckpointPost, limit_bytes: int, mention: int | None) -> render.Rendered:
    c = post.checkpoint
    text = (
        f"**{post.output_name}**, checkpoint {post.number} of {post.of} (step {c.step}): consistency "
        f"{_score(c.consistency)}, likeness {_score(c.likeness)}. React 👍 if it looks best."
    )
    files = []
    if c.samples_path is not None and c.samples_path.is_file() and c.samples_path.stat().st_size <= limit_bytes:
        files.append(await render.image_file(c.samples_path, f"run{post.run_id}_step{c.step}.png"))
    return render.Rendered(content=text, files=files)


class TryButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["trtry"]):
    """Try it: a prompt modal; its submit is a /generate with the run's model."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(
            discord.ui.Button(
                label="Try it",
                emoji="✨",
                style=discord.ButtonStyle.primary,
                custom_id=custom_ids.simple_id("trtry", run_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        result = await services_of(interaction).training.result(caller_from(interaction), self.run_id)
        if result.model_name is None:
            await feedback.send_ephemeral(interaction, "Register a checkpoint first (the menu under the card).")
            return
        await interaction.response.send_modal(TryModal(self.run_id, result.model_name, "portrait photo"))


class TryModal(discord.ui.Modal):
    """Answered from its payload by `submit_try` (a modal opened before a restart has no object)."""

    def __init__(self, run_id: int, model: str, prompt: str) -> None:
        super().__init__(title=clip(f"Try {model}", 45), timeout=600, custom_id=custom_ids.simple_id("trtrym", run_id))
        self.add_item(
            discord.ui.TextInput(
                label="Prompt (the trigger word is added)",
                style=discord.TextStyle.paragraph,
                default=prompt,
                max_length=1000,
                custom_id=TRY_PROMPT_ID,
            )
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        return


async def submit_try(interaction: discord.Interaction) -> bool:
    """Run a /generate from a submitted Try-it modal; False when the submit is not one."""
    data = interaction.data or {}
    try:
        parsed = custom_ids.parse(str(data.get("custom_id", "")))
    except ValueError:
        return False
    if parsed.action != "trtrym":
        return False
    try:
        await interaction.response.defer(thinking=True)
        services = services_of(interaction)
        caller = caller_from(interaction)
        result = await services.training.result(caller, parsed.job_id)
        if result.model_name is None:
            raise Refused("Register a checkpoint of this run first.")
        prompt = modal_text(data, TRY_PROMPT_ID)
        await services.generate.submit(caller, GenerateInput(prompt=prompt, model=result.model_name))
    except Exception as error:  # the one funnel
        await feedback.report_error(interaction, error, job_item=True)
    return True


class DownloadButton(Funnel, discord.ui.DynamicItem[discord.ui.Button], template=custom_ids.TEMPLATES["trdl"]):
    """The kohya-format file (AUTOMATIC1111, ComfyUI), attached when it fits the upload limit."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(
            discord.ui.Button(
                label="Download",
                emoji="📦",
                style=discord.ButtonStyle.secondary,
                custom_id=custom_ids.simple_id("trdl", run_id),
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot: Any = interaction.client
        path = await services_of(interaction).training.download(caller_from(interaction), self.run_id)
        limit = bot.delivery.max_upload_bytes
        size = path.stat().st_size
        if size > limit:
            await interaction.followup.send(
                f"The file is {_size(size)}, over this server's upload limit ({_size(limit)}). On the bot's machine: "
                f"`studio models export {path.stem.removesuffix('_kohya')} --format kohya --out FILE`.",
                ephemeral=True,
            )
            return
        file = discord.File(path, filename=path.name)
        await interaction.followup.send("For AUTOMATIC1111 and ComfyUI (kohya format):", file=file, ephemeral=True)


class CheckpointSelect(Funnel, discord.ui.DynamicItem[discord.ui.Select], template=custom_ids.TEMPLATES["trck"]):
    """Switch the registered model to another checkpoint (or register one of a stopped run)."""

    def __init__(self, run_id: int, checkpoints: tuple[CheckpointInfo, ...] = ()) -> None:
        self.run_id = run_id
        options = [
            discord.SelectOption(
                label=f"Step {c.step}",
                value=str(c.step),
                description=clip(f"👍 {c.votes} · consistency {_score(c.consistency)} · loss {_score(c.loss)}", 100),
                default=c.chosen,
            )
            for c in checkpoints[-MAX_OPTIONS:]
        ] or [discord.SelectOption(label="(no checkpoint)", value="0")]
        super().__init__(
            discord.ui.Select(
                placeholder="Use another checkpoint…", options=options, custom_id=custom_ids.simple_id("trck", run_id)
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str], /):
        return cls(custom_ids.parse(match.group(0)).job_id)

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        values = (interaction.data or {}).get("values") or ["0"]
        step = int(values[0])
        result = await services_of(interaction).training.choose(caller_from(interaction), self.run_id, step)
        await interaction.edit_original_response(embed=result_embed(result), view=result_view(result))
        await interaction.followup.send(
            f"**{result.model_name}** now uses the checkpoint of step {step}.", ephemeral=True
        )


def result_view(result: TrainingResult) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if result.model_name is not None:
        view.add_item(TryButton(result.run_id))
        view.add_item(DownloadButton(result.run_id))
    if result.checkpoints:
        select = CheckpointSelect(result.run_id, result.checkpoints)
        select.row = 1
        view.add_item(select)
    return view


# -- /train status and list ---------------------------------------------------------------------------


def runs_embed(title: str, runs: list[RunInfo], empty: str) -> discord.Embed:
    embed = discord.Embed(title=title, colour=COLOUR)
    if not runs:
        embed.description = empty
        return embed
    lines = []
    for run in runs[:20]:
        model = f" → **{run.model_name}** (step {run.chosen_step})" if run.model_name else ""
        progress = f"{run.steps_done}/{run.steps}" if run.steps_done is not None else f"{run.steps} steps"
        scores = f", best consistency {_score(run.best_consistency)}, 👍 {run.votes}" if run.steps_done else ""
        who = f" by <@{run.requester_id}>" if run.requester_id else ""
        failed = f": {clip(run.error, 120)}" if run.error else ""
        lines.append(
            f"**#{run.run_id} {run.output_name}** ({run.status}{failed}) on set {run.set_name}, "
            f"{progress}{scores}{model}{who}"
        )
    embed.description = clip("\n".join(lines), 4000)
    return embed


TRAINING_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    StartButton,
    DropButton,
    TryButton,
    DownloadButton,
    CheckpointSelect,
)
