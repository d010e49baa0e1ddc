"""A run's journal: the steps the engine reported, read back as losses, pace, ETA and the log's tail."""

from __future__ import annotations

import json
from pathlib import Path

from studio.training import journal


def test_the_journal_reads_back_losses_pace_grid_and_tail(tmp_path: Path) -> None:
    run = tmp_path / "run-1"
    journal.append(run, 1, 4, "loss 0.5000, 2.00 samples/s", None)
    journal.append(run, 2, 4, "loss nan, 2.50 samples/s", "/grids/2.png")  # NaN: not drawn
    journal.append(run, 3, 4, "loss 1.2e-3, 3.00 samples/s, consistency 0.9 at step 2", None)
    journal.append(run, 2, 4, "loss 0.4000, 1.00 samples/s, resumed at step 1", None)  # a resumed run
    with journal.path_in(run).open("a") as out:
        out.write('{"t": 1, "step": 3, "tot')  # a line a crash cut short
    journal.note(run, "stopped (2 steps)")
    view = journal.read(run, tail=2)
    assert view.losses == ((1, 0.5), (2, 0.4), (3, 0.0012))  # the resumed step's newer loss wins
    assert (view.step, view.total, view.samples_per_s) == (2, 4, 1.0)
    assert view.newest_grid == Path("/grids/2.png")
    assert len(view.lines) == 2 and view.lines[-1].endswith(" stopped (2 steps)")
    assert view.lines[0].endswith(" step 2/4: loss 0.4000, 1.00 samples/s, resumed at step 1")


def test_the_eta_is_the_steps_left_at_the_recent_pace(tmp_path: Path) -> None:
    run = tmp_path / "run-2"
    run.mkdir()
    lines = [{"t": 100.0 + 2 * step, "step": step, "total": 10, "detail": f"loss {1 / step:.4f}"} for step in (1, 2, 3)]
    journal.path_in(run).write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert journal.read(run).eta_s == 14.0  # 7 steps left at 2 s a step
    assert journal.read(tmp_path / "never-ran") == journal.JournalView((), None, 0, 0, None, (), None)
