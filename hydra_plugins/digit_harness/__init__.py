"""This project's Hydra plugins. Hydra loads plugins only from the `hydra_plugins` namespace,
so these few lines live here; what they do lives in `src/` (see each module)."""
