"""A run's recipe: the part of its resolved config that decides the model it trains.

Two runs with the same recipe on the same data train the same model (on one kind of machine
bit for bit; on a GPU, or cut by a time budget on another machine, a model of the same recipe),
whatever their run dirs, thread counts, figures or verbosity. `make bench` reuses a finished
run only when its recipe hash is the one it would train now, so a changed recipe trains again.
A new key in a group the model reads (a trainer option, say) would change the hash of every
recipe that reads that group, so a key added once runs were archived is listed in ADDED_LATER
with the value that does what recipes did before it existed: at that value it is left out, and
archived runs keep their hashes. (data.pseudo_labels, off in more than one spelling, has its own
rule below.)
"""

from __future__ import annotations

import hashlib
import json
import os

from src.data.pseudo_labels import source_paths

# The data settings that choose the rows a model is fit on; where the files live does not.
DATA_KEYS = ("holdout", "folds", "split_seed")
# Trainer keys that change what is logged, not what is learned.
TRAINER_LOGGING = ("verbose", "tensorboard")
# The estimator repeats these from the top level (seed, trainer, deskew) or takes them from the
# machine (threads): counted once, or not at all.
ESTIMATOR_REPEATS = ("trainer", "threads", "seed", "deskew")
# Keys added after runs were archived (their path in the recipe), each with its value that
# changes nothing: its default in conf/.
ADDED_LATER = {("trainer", "augment", "elastic_share"): 1.0, ("deskew",): False}


def recipe(config: dict) -> dict:
    """The recipe of a resolved config (a run dir's, loaded: RunDir.config())."""
    model = dict(config["model"])
    model["estimator"] = {k: v for k, v in model["estimator"].items()
                          if k not in ESTIMATOR_REPEATS}
    reads_trainer = "trainer" in config["model"]["estimator"]  # Keras models; not scikit-learn's
    kept = {
        "model": model,
        "trainer": {k: v for k, v in config["trainer"].items() if k not in TRAINER_LOGGING}
        if reads_trainer else None,
        "seed": config["seed"],
        "deskew": config.get("deskew", False),
        "data": {k: config["data"].get(k) for k in DATA_KEYS} | _pseudo_labels(config["data"]),
    }
    for path, neutral in ADDED_LATER.items():
        if _get(kept, path, neutral) == neutral:
            kept = _without(kept, path)
    return kept


def _get(tree, path: tuple, default):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return default
        tree = tree[key]
    return tree


def _without(tree: dict, path: tuple) -> dict:
    """`tree` without the key at `path` (as it is if there is none), copying only the dicts
    along the path."""
    head, *rest = path
    if not isinstance(tree, dict) or head not in tree:
        return tree
    if not rest:
        return {k: v for k, v in tree.items() if k != head}
    return {**tree, head: _without(tree[head], tuple(rest))}


def _pseudo_labels(data: dict) -> dict:
    """Pseudo-labels change the fit rows; a recipe without them keeps the hash it had before
    they existed."""
    pseudo = data.get("pseudo_labels") or {}
    if not pseudo.get("runs"):
        return {}
    # the same sources however they are spelt: one path or a list, in any order, ./ or not
    runs = sorted(os.path.normpath(r) for r in source_paths(pseudo["runs"]))
    return {"pseudo_labels": {**pseudo, "runs": runs}}


def recipe_hash(config: dict) -> str:
    """12 hex digits that change whenever the recipe does."""
    text = json.dumps(recipe(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
