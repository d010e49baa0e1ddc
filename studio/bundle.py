"""The bundle every adapter is handed: one property per feature API, each a Protocol the services implement.

`studio.container.open_services` builds the services; an adapter sees them only as a `StudioBundle`.
"""

from __future__ import annotations

from typing import Protocol

from studio.access.api import TokensApi
from studio.autopost.api import AutopostApi
from studio.gallery.api import CollectionsApi, GalleryApi
from studio.guild_settings_api import GuildSettingsApi
from studio.images.api import DescribeApi, EditsApi, FollowUpsApi, GenerateApi, PostsApi
from studio.images.thumbnail_api import ThumbnailsApi
from studio.jobs.api import QueueApi
from studio.models.api import ModelAdminApi, ModelsApi
from studio.training.api import TrainingApi
from studio.trainsets.api import CurationApi, SheetsApi, TrainsetsApi


class StudioBundle(Protocol):
    """Everything an adapter may ask of the services, handed to it as one bundle."""

    @property
    def jobs(self) -> QueueApi: ...

    @property
    def generate(self) -> GenerateApi: ...

    @property
    def followups(self) -> FollowUpsApi: ...

    @property
    def describe(self) -> DescribeApi: ...

    @property
    def edits(self) -> EditsApi: ...

    @property
    def thumbnails(self) -> ThumbnailsApi: ...

    @property
    def posts(self) -> PostsApi: ...

    @property
    def models(self) -> ModelsApi: ...

    @property
    def model_admin(self) -> ModelAdminApi: ...

    @property
    def guild_settings(self) -> GuildSettingsApi: ...

    @property
    def trainsets(self) -> TrainsetsApi: ...

    @property
    def training(self) -> TrainingApi: ...

    @property
    def autopost(self) -> AutopostApi: ...

    @property
    def curation(self) -> CurationApi: ...

    @property
    def sheets(self) -> SheetsApi: ...

    @property
    def gallery(self) -> GalleryApi: ...

    @property
    def collections(self) -> CollectionsApi: ...

    @property
    def tokens(self) -> TokensApi: ...
