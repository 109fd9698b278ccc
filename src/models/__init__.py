"""Estimators with scikit-learn's fit/predict_proba API, built from `conf/model/*.yaml`."""

import os

# Before any submodule imports TensorFlow: its C++ info and warning lines are noise in a run's
# output (a few start-up lines print regardless in TensorFlow 2.16+).
# A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
