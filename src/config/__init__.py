"""The Hydra config outside `python -m src.run`: composing conf/ for the small commands, and
checking a composed config's values before any data is read."""
