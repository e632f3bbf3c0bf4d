"""Who acts at the hub (a user, from the CLI or the API, with a role), for its audit log,
and the rule that every change or search there states a reason."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.privacy.audit import ReasonRequired


@dataclass(frozen=True)
class Actor:
    """Who changes or searches the hub gallery, from where, for the hub's audit log."""

    user: str
    source: str = "cli"
    role: str = ""


def need_reason(reason: str, what: str) -> str:
    reason = reason.strip()
    if len(reason) < 3:
        raise ReasonRequired(
            f"{what} needs a stated reason (at least 3 characters)",
            hint='add --reason "..."',
        )
    return reason
