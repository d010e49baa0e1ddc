"""/train: plan and start a LoRA training, follow it, cancel it; 👍 votes on checkpoint grids."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import render
from bot.ui.caller import caller_from
from bot.ui.training_view import plan_buttons, plan_embed, runs_embed
from bot.ui.trainset_view import set_choices
from studio.training.api import TrainingApi, TrainOverrides

if TYPE_CHECKING:
    from bot.client import StudioBot

VOTE = "👍"


@app_commands.guild_only()
class TrainingCog(commands.GroupCog, group_name="train", group_description="Train a LoRA on this server's GPU"):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def _training(self) -> TrainingApi:
        return self.bot.services.training

    @app_commands.command(name="start", description="Plan a LoRA from a training set; Start it from the plan")
    @app_commands.rename(set_name="set")
    @app_commands.describe(
        set_name="The training set (default: your active set)",
        output_name="The new model's name in the picker",
        base_model="The base model to train on (default: the set's, else the server's)",
        steps="Optimizer steps (default: from the set's size and the model's preset)",
        rank="LoRA rank: capacity and file size (default: the preset's)",
        learning_rate="Learning rate (default: the preset's)",
        resolution="Training resolution in pixels (default: the model's)",
        optimizer="adamw (default), adamw8bit (less memory, CUDA) or prodigy (finds its own learning rate)",
        train_text_encoder="Train the text encoder too (SD 1.5 only; slower, stronger on the trigger word)",
        prior_images="Images the base model draws to keep what it knew (prior preservation; 0: off)",
    )
    @app_commands.choices(
        optimizer=[app_commands.Choice(name=name, value=name) for name in ("adamw", "adamw8bit", "prodigy")]
    )
    async def start(
        self,
        interaction: discord.Interaction,
        output_name: app_commands.Range[str, 1, 48],
        set_name: app_commands.Range[str, 1, 64] | None = None,
        base_model: app_commands.Range[str, 1, 100] | None = None,
        steps: app_commands.Range[int, 1, 20_000] | None = None,
        rank: app_commands.Range[int, 1, 256] | None = None,
        learning_rate: app_commands.Range[float, 1e-6, 10.0] | None = None,
        resolution: app_commands.Range[int, 32, 2048] | None = None,
        optimizer: str | None = None,
        train_text_encoder: bool | None = None,
        prior_images: app_commands.Range[int, 0, 1000] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        overrides = TrainOverrides(
            steps=steps,
            rank=rank,
            learning_rate=learning_rate,
            resolution=resolution,
            optimizer=optimizer,
            train_text_encoder=train_text_encoder,
            prior_images=prior_images,
        )
        plan = await self._training.plan(
            caller_from(interaction), set_name, output_name, overrides, base_model=base_model
        )
        await interaction.followup.send(embed=plan_embed(plan), view=plan_buttons(plan.run_id), ephemeral=True)

    @app_commands.command(name="status", description="The training running or waiting in this server")
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        runs = await self._training.status(caller_from(interaction))
        embed = runs_embed("Training now", runs, "Nothing is training here. `/train start` plans a run.")
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="cancel", description="Stop a training: it keeps a checkpoint you can register")
    @app_commands.describe(run="The run's number (default: the one running here)")
    async def cancel(self, interaction: discord.Interaction, run: app_commands.Range[int, 1] | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        info = await self._training.cancel(caller_from(interaction), run)
        await interaction.followup.send(
            f"Stopping run #{info.run_id} ({info.output_name}): it saves a checkpoint first, then its card offers "
            "to register it.",
            ephemeral=True,
        )

    @app_commands.command(name="list", description="This server's trainings, with their scores and votes")
    async def list_runs(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        runs = await self._training.list(caller_from(interaction))
        await interaction.followup.send(embed=runs_embed("Trainings", runs, "No training yet."), ephemeral=True)

    @start.autocomplete("set_name")
    async def set_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await set_choices(interaction, current)

    @start.autocomplete("base_model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await render.model_choices(self.bot.services.models, current)

    # -- 👍 on a checkpoint's grid ------------------------------------------------------------------

    def _vote(self, payload: discord.RawReactionActionEvent) -> bool:
        own = self.bot.user is not None and payload.user_id == self.bot.user.id
        return not own and payload.emoji.id is None and payload.emoji.name == VOTE

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self._vote(payload):
            await self._training.vote(payload.message_id, payload.user_id, up=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self._vote(payload):
            await self._training.vote(payload.message_id, payload.user_id, up=False)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(TrainingCog(bot))
