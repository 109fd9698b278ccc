"""Experiment tracking beside the run dir (opt-in: tracking=mlflow)."""
