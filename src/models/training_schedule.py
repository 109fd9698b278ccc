"""The learning rate over a Keras run, and the wall-clock budget the run must fit in.

Without `trainer.time_budget` a run is exactly `epochs` epochs and its learning rate a function
of the step alone, so a seed gives the same weights on every machine. With a budget and a
cosine schedule, the plan is checked after every epoch from the second on (the first pays for
tracing the graph): when the epochs left would not fit in the time left at this machine's pace
so far, the run is cut to the whole epochs that do (and grows back, up to `epochs`, if the pace
recovers) and the cosine anneals over those, so a slow or busy machine still ends on time with
a fully annealed model rather than one stopped at a high learning rate. Whatever the plan,
training stops within a batch of the budget.
"""

from __future__ import annotations

import logging
import math
import time

import keras

log = logging.getLogger(__name__)


def warmup(step: int, peak: float, warmup_steps: int) -> float:
    """A linear rise from peak/10 at step 0 to peak at `warmup_steps`."""
    return peak / 10 + (peak - peak / 10) * step / warmup_steps


def cosine_with_warmup(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """A linear warm-up from peak/10 to peak, then a cosine from peak to 0 at `total_steps`."""
    warmup_steps = min(warmup_steps, total_steps - 1)
    if step < warmup_steps:
        return warmup(step, peak, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


class TrainingSchedule(keras.callbacks.Callback):
    """Sets the learning rate before every batch, records the wall time at each epoch's end,
    shortens the plan to fit `budget` seconds (cosine schedule only) and stops at the budget."""

    clock = staticmethod(time.perf_counter)  # the wall clock; tests put a fake one here

    def __init__(self, trainer: dict, steps_per_epoch: int):
        super().__init__()
        self.peak = trainer["lr"]
        self.schedule = trainer["schedule"]
        self.cosine = self.schedule == "cosine"
        self.decay = trainer["decay"]
        self.warmup_steps = trainer["warmup_epochs"] * steps_per_epoch
        self.steps_per_epoch = steps_per_epoch
        self.budget = trainer["time_budget"]
        self.epochs = self.planned_epochs = trainer["epochs"]
        self.step = 0
        self.elapsed: list[float] = []  # seconds since the start, at each epoch's end
        self.batch_seconds: list[float] = []
        self.learning_rates: list[float] = []  # the rate each epoch ended with
        self.out_of_time = False
        self.stopped_at: float | None = None  # seconds, when the budget stopped training

    def learning_rate(self, step: int) -> float:
        if self.cosine:
            return cosine_with_warmup(step, self.peak, self.warmup_steps,
                                      self.planned_epochs * self.steps_per_epoch)
        if step < self.warmup_steps:
            return warmup(step, self.peak, self.warmup_steps)
        if self.schedule == "exponential":
            return self.peak * self.decay ** (step // self.steps_per_epoch)
        return self.peak

    def on_train_begin(self, logs=None):
        self.start = self.last = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self.last = self.clock()  # the gap between epochs (validation) is no batch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate(self.step)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        now = self.clock()
        self.batch_seconds.append(now - self.last)
        self.last = now
        if self.budget is not None and now - self.start >= self.budget and not self.out_of_time:
            log.warning("trainer.time_budget=%ss reached: training stops here", self.budget)
            self.out_of_time, self.stopped_at = True, now - self.start
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed.append(round(self.clock() - self.start, 3))
        rate = self.learning_rate(max(0, self.step - 1))
        self.learning_rates.append(rate)
        if logs is not None:
            logs["learning_rate"] = rate
        done = epoch + 1
        if self.budget is not None and self.cosine and done >= 2 and not self.out_of_time:
            self._replan(done)
        if done >= self.planned_epochs:
            self.model.stop_training = True

    def _replan(self, done: int) -> None:
        """Plan the epochs that fit at the mean pace since the first epoch. The plan may grow
        back (to `epochs` at most) after a slow spell, so one slow epoch does not cost the
        rest of the run."""
        pace = max(1e-3, (self.elapsed[-1] - self.elapsed[0]) / (done - 1))
        fit = done + math.floor((self.budget - self.elapsed[-1]) / pace)
        plan = max(done, min(fit, self.epochs))
        if plan != self.planned_epochs:
            log.log(logging.WARNING if plan < self.epochs else logging.INFO,
                    "trainer.time_budget=%ss: at %.1f s an epoch here, %d of %d epochs fit; the "
                    "learning rate anneals over those", self.budget, pace, plan, self.epochs)
            self.planned_epochs = plan
