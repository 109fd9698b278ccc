"""Multiruns: the resumable Optuna sweeper, one sweep per sweep dir, the summary of a sweep's
jobs."""
