"""One log line per epoch: the metrics, the time so far and an estimate of the time left.

Keras' own progress bar only knows the current epoch; on a run of an hour the question is when
the whole run ends, and in a log file or a pipe there is no bar at all. The line goes through
logging, so it also lands in the run dir's log.
"""

from __future__ import annotations

import logging

import keras

from src.models.training_schedule import TrainingSchedule

log = logging.getLogger(__name__)
SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


def duration(seconds: float) -> str:
    """'42s', '3m05s', '1h02m'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def seconds_left(elapsed: list[float], planned_epochs: int,
                 budget: float | None = None) -> float:
    """The epochs still planned at the pace of those done, and never past a time budget. The
    first epoch also traces the graph, so once there are others it is left out of the pace."""
    done = len(elapsed)
    pace = (elapsed[-1] - elapsed[0]) / (done - 1) if done >= 2 else elapsed[0]
    left = max(0, planned_epochs - done) * pace
    return left if budget is None else max(0.0, min(left, budget - elapsed[-1]))


class EpochProgress(keras.callbacks.Callback):
    """Logs each epoch's line from the `TrainingSchedule`'s record (which must run first)."""

    def __init__(self, schedule: TrainingSchedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        schedule = self.schedule
        metrics = "  ".join(f"{key} {logs[key]:.4f}" for key in SHOWN if key in logs)
        planned = schedule.planned_epochs
        left = seconds_left(schedule.elapsed, planned, schedule.budget)
        log.info("epoch %d/%d  %s  |  %s elapsed, about %s left", epoch + 1, planned, metrics,
                 duration(schedule.elapsed[-1]), duration(left))
