"""Estimators with scikit-learn's fit/predict_proba API, built from `conf/model/*.yaml`."""

import os

# Before any submodule imports TensorFlow: its C++ log lines are noise in a run's output. On a
# CPU machine even its error lines are ("failed call to cuInit", and a "NodeDef mentions
# attribute use_unbounded_threadpool" for each tf.data map); a real failure still raises a
# Python exception with its message. The two "Could not find cuda drivers" lines print before
# TensorFlow reads this setting. A user's own setting wins (e.g. 0 to debug a GPU setup).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
