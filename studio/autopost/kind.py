"""The autopost kind: one scheduled post, made like a /generate result and shown with the same buttons.

Its caller's origin is the schedule (no role list, charged to the server, no mention); its images are recorded in
`posts` as an auto-post, so members pick training images from it with reactions as from any result.
"""

from __future__ import annotations

from dataclasses import replace

from engine import ImagesOutcome
from storage.records import Job
from studio.images.generate import GenerateKind
from studio.images.images import ImageRequest, ImagesDone, images_completion
from studio.jobs.kind import Completion

PRIORITY = -1  # after members' own commands waiting at the same time


class AutopostKind(GenerateKind):
    name = "autopost"
    label = "Posting"
    retry = "requeue"

    def summary(self, request: ImageRequest) -> str:
        return f"auto-post: {request.prompt}"

    async def complete(self, job: Job, request: ImageRequest, outcome: ImagesOutcome) -> Completion:
        records = await self.store(job, request, outcome)
        done = ImagesDone(tuple(r.id for r in records), outcome.elapsed_s)
        completion = images_completion(records, await self.job_result(job, request), done.to_json())
        return replace(completion, post_role="autopost")
