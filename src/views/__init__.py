"""Pictures and tables people read: a run's figures, aligned text tables."""
