"""Combining trained models' predictions into one."""
