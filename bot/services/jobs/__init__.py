"""The job system: one queue that knows no kind (`queue`), and the kinds registered with it (`kinds/`).

`kind.JobKind` says what a kind declares; `admission` holds the policy checks every kind shares,
`images` what the kinds that make images share, `followups` the buttons under a result.
"""

from bot.services.jobs.kind import Completion, JobKind
from bot.services.jobs.queue import JobQueue

__all__ = ["Completion", "JobKind", "JobQueue"]
