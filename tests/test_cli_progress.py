"""Stage lines on stderr (:mod:`bench.cli.progress`): silent for a quick step, one line per stage after the delay.

The delay is a parameter, so nothing here waits on a wall clock: 0 shows every stage at once, an hour shows
none within a test; a timer that fires is awaited on its event, never on a sleep.
"""

from __future__ import annotations

import io

import pytest

from bench.cli.progress import PROGRESS, Stages


@pytest.fixture(autouse=True)
def _shown_anywhere():
    before = PROGRESS.show
    PROGRESS.show = True  # as --progress: the stream here is no terminal
    yield
    PROGRESS.show = before


def test_a_step_that_ends_before_the_delay_says_nothing():
    stream = io.StringIO()
    with Stages("recommend", delay_s=3600, stream=stream) as stages:
        stages.stage("counting")
        stages.stage("ranking")
    assert stream.getvalue() == ""


def test_after_the_delay_the_current_stage_and_every_later_one_is_a_line():
    stream = io.StringIO()
    with Stages("compare-models", delay_s=0.01, stream=stream) as stages:
        stages.stage("counting kandinsky-3 (1/2)")
        assert stages.shown.wait(timeout=60)  # the timer fired: the stage running then is printed
        stages.stage("counting flux.1-dev (2/2)")
    assert stream.getvalue().splitlines() == [
        "kbench compare-models: counting kandinsky-3 (1/2) ...",
        "kbench compare-models: counting flux.1-dev (2/2) ...",
    ]


def test_no_progress_and_a_pipe_stay_silent():
    stream = io.StringIO()
    PROGRESS.show = False  # --no-progress
    with Stages("flops", delay_s=0, stream=stream) as stages:
        stages.stage("counting")
    PROGRESS.show = None  # the default: only when the stream is a terminal, which a StringIO is not
    with Stages("flops", delay_s=0, stream=stream) as stages:
        stages.stage("counting")
    assert stream.getvalue() == ""


def test_a_closed_stream_does_not_stop_the_step():
    stream = io.StringIO()
    stream.close()
    with Stages("flops", delay_s=0, stream=stream) as stages:
        stages.stage("counting")  # the terminal went away: the command goes on
