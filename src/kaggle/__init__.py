"""Talking to Kaggle: the API client (credentials, retries, one-line errors) and the ledger
of what was submitted."""
