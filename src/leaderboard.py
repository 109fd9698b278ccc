"""`make leaderboard`: the top of the competition's public leaderboard, this account's best
public score and its team's rank, and the ledger's best holdout accuracy beside them.

    python scripts/leaderboard.py [overrides...]   # e.g. kaggle.leaderboard.top=20

The team is found among the leaderboard's pages (kaggle.leaderboard.page_size entries each,
at most kaggle.leaderboard.max_pages of them) by the team name Kaggle gives this account's
submissions.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from src.config import command_config
from src.kaggle import api_client, ledger
from src.utils.errors import exit_on_error
from src.views.text_table import aligned


@exit_on_error
def main(argv: list[str]) -> None:
    cfg = command_config.load(argv)
    settings = OmegaConf.to_container(cfg.kaggle)
    board = settings["leaderboard"]
    client = api_client.connect(settings)
    mine = [s for s in client.submissions() if s is not None]
    teams = {s.team_name for s in mine if s.team_name}
    entries, rank, complete = search(client, teams, board)

    top = entries[: board["top"]]
    print(f"public leaderboard of {settings['competition']}, top {len(top)}:" if top else
          f"the public leaderboard of {settings['competition']} is empty")
    if top:
        print(aligned(["rank", "team", "score", "submitted"],
                      [(i, (e.team_name or "") + (" (you)" if e.team_name in teams else ""),
                        e.score, str(e.submission_date or "")[:10])
                       for i, e in enumerate(top, 1)]))
    print(your_rank(entries, rank, complete, mine, board))
    print(best_public(mine))
    print(best_holdout(ledger.read(settings["ledger"])))


def search(client: api_client.Client, teams: set[str], board: dict) -> tuple[list, int | None,
                                                                               bool]:
    """(the entries read, best first; the 1-based rank of this account's team or None;
    whether the whole leaderboard was read)."""
    entries, token, rank = [], "", None
    for _ in range(board["max_pages"]):
        page = _page(client, board["page_size"], token)
        entries += [e for e in page.submissions or [] if e is not None]
        rank = next((i for i, e in enumerate(entries, 1) if e.team_name in teams), None)
        token = page.next_page_token
        if not token:
            return entries, rank, True
        if rank is not None and len(entries) >= board["top"]:
            break
    return entries, rank, False


def _page(client: api_client.Client, size: int, token: str):
    """One page of the leaderboard, with the token of the next. The client's
    competition_leaderboard_view makes this same request but prints the next page's token
    instead of returning it."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetLeaderboardRequest

    def get():
        with client.api.build_kaggle_client() as kaggle:
            request = ApiGetLeaderboardRequest()
            request.competition_name = client.competition
            request.page_size = size
            request.page_token = token
            return kaggle.competitions.competition_api_client.get_leaderboard(request)

    return client.call("leaderboard", "read the leaderboard", get, retry=True)


def your_rank(entries: list, rank: int | None, complete: bool, mine: list, board: dict) -> str:
    if not any(s.status.name == "COMPLETE" for s in mine):
        return "your team: not on the leaderboard (no scored submission yet)"
    if rank is not None:
        entry = entries[rank - 1]
        return (f"your team ({entry.team_name}): rank {rank}, leaderboard score "
                f"{entry.score}")
    if complete:
        return f"your team: not on the leaderboard's {len(entries)} entries"
    return (f"your team: below the first {len(entries)} entries read "
            "(kaggle.leaderboard.max_pages x page_size)")


def best_public(mine: list) -> str:
    scored = [s for s in mine if s.status.name == "COMPLETE" and _number(s.public_score)]
    if not scored:
        return "best public score: none yet"
    best = max(scored, key=lambda s: float(s.public_score))
    return (f"best public score: {best.public_score} (ref {best.ref}, {best.file_name}, "
            f"{str(best.date)[:10]}; the best of {len(scored)} scored)")


def best_holdout(rows: list[dict]) -> str:
    measured = [r for r in rows if _number(r["holdout_accuracy"])]
    if not measured:
        return "ledger's best holdout: none (no submission of a run with a holdout)"
    best = max(measured, key=lambda r: float(r["holdout_accuracy"]))
    public = f"public {best['public_score']}" if best["public_score"] else "no public score yet"
    return (f"ledger's best holdout: {best['holdout_accuracy']} ({Path(best['file']).name}, "
            f"{best['model']}; {public})")


def _number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


if __name__ == "__main__":
    main(sys.argv[1:])
