"""Waiting for Kaggle to score one submission (`make submit WAIT=1`): a poll every
`kaggle.poll_interval` seconds, for at most `kaggle.wait_timeout` seconds."""

from __future__ import annotations

import time

from src.kaggle.api_client import Client, KaggleError
from src.utils.errors import ConfigError

# KaggleApi._MIN_POLL_INTERVAL in kaggle 2.2.5; used only if a later client drops the name
CLIENT_MINIMUM = 5
DONE = ("COMPLETE", "ERROR")


def check_settings(client: Client, settings: dict) -> None:
    """Refuse settings that would poll faster than the client itself allows (it says more
    often would only load Kaggle's servers), before anything is sent."""
    minimum = getattr(client.api, "_MIN_POLL_INTERVAL", CLIENT_MINIMUM)
    if not settings["poll_interval"] >= minimum:
        raise ConfigError(f"kaggle.poll_interval={settings['poll_interval']} is below the "
                          f"Kaggle client's minimum of {minimum} s between polls: use "
                          f"{minimum} or more")
    if not settings["wait_timeout"] > 0:
        raise ConfigError(f"kaggle.wait_timeout={settings['wait_timeout']}: the seconds to "
                          "wait for a score must be > 0")


def fetch(client: Client, ref: int):
    """Kaggle's record of submission `ref`, or None while Kaggle does not list it yet."""
    import requests

    def get():
        try:
            return client.api.get_submission(ref)
        except requests.HTTPError as err:
            # as the client's own poll does: a submission just made may not be readable yet
            if err.response is not None and err.response.status_code == 404:
                return None
            raise

    return client.call("submission status", f"read the status of submission {ref}", get,
                       retry=True)


def wait(client: Client, ref: int, settings: dict):
    """The submission once Kaggle has scored it (status COMPLETE) or given up (ERROR).
    Raises KaggleError when it is still pending at the bound; KeyboardInterrupt goes to
    the caller, who decides what stopping means."""
    interval, bound = settings["poll_interval"], settings["wait_timeout"]
    deadline = time.monotonic() + bound
    while True:
        found = fetch(client, ref)
        if found is not None and found.status.name in DONE:
            return found
        # a poll that would come after the bound cannot change the answer in time
        if time.monotonic() + interval > deadline:
            raise KaggleError(f"Kaggle had not scored submission {ref} within {bound} s "
                              "(kaggle.wait_timeout)")
        time.sleep(interval)
