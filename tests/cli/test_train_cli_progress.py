"""The terminal's progress bar: rates and ETAs from the steps this process ran, one bar per job."""

from __future__ import annotations

import asyncio

from cli.commands._local import CliDelivery
from studio.contract import JobRoute, Progress


def _route(job_id: int) -> JobRoute:
    return JobRoute(job_id, 0, None, None, None, None, None, origin="cli")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _feed(delivery: CliDelivery, job_id: int, step: int, total: int) -> None:
    asyncio.run(delivery.progress(_route(job_id), Progress(job_id, step, total, None, "Training")))


def test_a_resumed_run_s_rate_counts_only_the_steps_run_here() -> None:
    delivery = CliDelivery()
    _feed(delivery, 7, 30, 40)  # resumed at its checkpoint of step 30
    bar = delivery._bar
    assert bar is not None
    clock = Clock(bar.start_t)
    bar._time = clock  # tqdm reads its clock here: the test decides how long the steps took
    for step in range(31, 35):
        clock.now += 0.5
        _feed(delivery, 7, step, 40)
    meter = str(bar)
    # 4 steps in 2 s: 2 steps/s and 6 steps (3 s) to go; counted from step 0 it would claim 17 steps/s.
    assert "34/40" in meter and "2.00step/s" in meter and "<00:03" in meter, meter
    delivery._close_bar()


def test_the_first_update_is_not_a_step_in_no_time() -> None:
    delivery = CliDelivery()
    _feed(delivery, 3, 1, 24)
    bar = delivery._bar
    assert bar is not None
    bar._time = Clock(bar.start_t + 1e-6)
    assert "step/s" not in str(bar) or "?step/s" in str(bar), str(bar)  # no rate yet, not a million steps/s
    delivery._close_bar()


def test_another_job_gets_a_bar_with_its_own_label() -> None:
    delivery = CliDelivery()
    _feed(delivery, 112, 1, 24)
    _feed(delivery, 113, 2, 8)
    bar = delivery._bar
    assert bar is not None and bar.desc.startswith("job 113") and bar.total == 8 and bar.initial == 2
    delivery._close_bar()
