"""Kaggle's failures become one line chosen by the kind of call and the status Kaggle
answered (src/kaggle/api_client.py's ANSWERS), never by the words of its message."""

import pytest
import requests

from src.kaggle import api_client

SETTINGS = {"competition": "digit-recognizer", "timeout": 7}


def answered(status: int, words: str = "whatever Kaggle says") -> requests.HTTPError:
    response = requests.Response()
    response.status_code, response.reason = status, "Reason"
    return requests.HTTPError(f"{status} Client Error: {words}", response=response)


@pytest.mark.parametrize("kind", sorted(api_client.KINDS))
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 500, 503])
def test_every_kind_and_status_is_one_line_from_the_table(kind, status):
    retry, line = api_client.explain(kind, "do the thing", answered(status), SETTINGS,
                                     "KAGGLE_KEY", None)
    assert "\n" not in line and "{" not in line, line  # filled in, one line
    assert retry == (status == 429 or status >= 500)
    family = api_client.KINDS[kind]
    if status == 401:
        assert "credentials from KAGGLE_KEY" in line
    else:
        assert line.startswith("could not do the thing: ") and str(status) in line
    # only a call on the competition speaks of its rules or its name
    assert ("rules" in line) == (family == api_client.COMPETITION and status == 403)
    assert ("kaggle.competition" in line) == (family == api_client.COMPETITION
                                              and status in (403, 404))


def test_the_words_of_kaggles_message_change_nothing():
    plain = api_client.explain("quota", "read the GPU quota", answered(403), SETTINGS, "x", None)
    worded = api_client.explain("quota", "read the GPU quota",
                                answered(403, "Permission 'competitions.participate' denied"),
                                SETTINGS, "x", None)
    assert plain[0] == worded[0] and "GPU quota" in worded[1] and "rules" not in worded[1]


def test_no_connection_means_nothing_reached_kaggle():
    refused = requests.ConnectionError(
        requests.packages.urllib3.exceptions.NewConnectionError(None, "refused"))
    assert not api_client.may_have_acted(refused)
    assert not api_client.may_have_acted(answered(403))  # a refusal, by its answer
    assert api_client.may_have_acted(answered(502))
    assert api_client.may_have_acted(TimeoutError())
    assert api_client.may_have_acted(requests.ConnectionError("reset mid-request"))
