"""The job system's machinery: one queue that knows no kind (`queue`); each feature package owns its kinds.

`kind.JobKind` says what a kind declares; `admission` holds the policy checks every kind shares.
`studio.images.images` holds what the kinds that make images share, `studio.images.submitter` queues them and
`studio.images.followups` holds the buttons under a result; `studio.container` registers the kinds with the queue.
"""

from studio.jobs.kind import Completion, JobKind
from studio.jobs.queue import JobQueue

__all__ = ["Completion", "JobKind", "JobQueue"]
