"""Estimators with scikit-learn's fit/predict_proba API, built from `conf/model/*.yaml`."""
