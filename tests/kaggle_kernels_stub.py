"""The kernels half of the Kaggle stand-in (tests/kaggle_stub.py): the calls the client makes
for `make kaggle-run` (POST /api/v1/kernels.KernelsApiService/<Method>)."""

from __future__ import annotations


class KernelsHandlers:
    """Mixed into the stand-in's request handler: one `_api_<Method>` per kernels call."""
