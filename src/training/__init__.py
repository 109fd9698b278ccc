"""Training one run: its plan (splits, then fit, predict and write each), the thread budget,
and what a run records about where it came from."""
