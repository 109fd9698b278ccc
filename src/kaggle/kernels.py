"""Kaggle kernels through the official client: push a folder, read a session's status, fetch
what it wrote. Each call goes through `Client.call` (src/kaggle/api_client.py), so it has the
same timeout and one-line errors as the competition calls.

A push is never repeated (a second push is a second session, spending GPU quota); status and
output reads are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from src.kaggle.api_client import Client, KaggleError

SITE = "https://www.kaggle.com"
# The states of KernelWorkerStatus a session ends in; the others are QUEUED, RUNNING, NEW_SCRIPT.
COMPLETE, ERROR = "COMPLETE", "ERROR"
CANCELLED = ("CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED")
ENDED = (COMPLETE, ERROR, *CANCELLED)


@dataclass(frozen=True)
class Kernel:
    owner: str
    slug: str
    version: int | None = None

    @property
    def id(self) -> str:
        """owner/slug: the kernel, whatever its version (kernel-metadata.json's `id`)."""
        return f"{self.owner}/{self.slug}"

    @property
    def ref(self) -> str:
        """owner/slug[/version], as the client's kernel calls take it."""
        base = f"{self.owner}/{self.slug}"
        return base if self.version is None else f"{base}/{self.version}"

    @property
    def url(self) -> str:
        return f"{SITE}/code/{self.owner}/{self.slug}"


def owner(client: Client) -> str:
    """The account's user name: kernels live under it."""
    name = client.api.get_config_value(client.api.CONFIG_NAME_USER)
    if not name:
        raise KaggleError(f"the Kaggle user name is unknown ({client.source} did not give one): "
                          "set KAGGLE_USERNAME, or use a kaggle.json that has it")
    return name


def push(client: Client, folder: Path, settings: dict) -> Kernel:
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    owner_name, slug = meta["id"].split("/")
    timeout = settings.get("session_timeout")
    response = client.call("kernel push", f"push kernel {meta['id']}",
                           lambda: client.api.kernels_push(
                               str(folder), timeout=str(timeout) if timeout else None,
                               acc=settings.get("accelerator") or None), retry=False)
    if response.error:
        raise KaggleError(f"Kaggle refused kernel {meta['id']}: {response.error}")
    invalid = [*response.invalid_competition_sources, *response.invalid_dataset_sources]
    if invalid:
        raise KaggleError(f"Kaggle refused kernel {meta['id']}'s data sources: "
                          f"{', '.join(invalid)} (check kaggle.competition)")
    return Kernel(owner_name, slug, response.version_number)


def status(client: Client, kernel: Kernel) -> tuple[str, str]:
    """(state name, failure message or '') of the kernel's session."""
    response = client.call("kernel status", f"read the status of kernel {kernel.ref}",
                           lambda: client.api.kernels_status(kernel.ref), retry=True)
    return response.status.name, response.failure_message or ""


def fetch_output(client: Client, kernel: Kernel, into: Path) -> list[Path]:
    """Download every file the session wrote, and its log as `<slug>.log`, into `into`."""
    files, _ = client.call("kernel output", f"fetch the output of kernel {kernel.ref}",
                           lambda: client.api.kernels_output(kernel.ref, str(into), force=True,
                                                             quiet=True), retry=True)
    return [Path(f) for f in files]


def gpu_quota(client: Client) -> str:
    """This week's GPU hours used and allowed, as Kaggle counts them."""
    response = client.call("quota", "read the GPU quota", client.api.quota_view, retry=True)
    quota = response.gpu_quota
    if quota is None or quota.total_time_allowed is None:
        return "not reported"
    used, allowed = (t.total_seconds() / 3600 for t in (quota.time_used or timedelta(),
                                                         quota.total_time_allowed))
    refresh = response.quota_refresh_time
    when = f" (refreshes {refresh:%Y-%m-%d %H:%M} UTC)" if refresh else ""
    return f"{used:.1f} h of {allowed:.1f} h used this week{when}"


def log_path(kernel: Kernel, folder: Path) -> Path:
    return folder / f"{kernel.slug}.log"  # the client's name for a fetched session log


def log_tail(text: str, lines: int) -> list[str]:
    """The last `lines` non-empty lines of a session log. Kaggle's log is a JSON list of
    {stream_name, time, data} pieces; plain text is taken as it is."""
    try:
        pieces = json.loads(text)
        text = "".join(str(p.get("data", "")) for p in pieces if isinstance(p, dict))
    except (ValueError, AttributeError, TypeError):
        pass
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return kept[-lines:] if lines > 0 else []
