"""`vigil watchlists ...`: the site's watchlists, their action, and how many people confirm a
member's match before it is acted on."""

from __future__ import annotations

import typer
from rich.table import Table

from vigil.cli.state import console, print_json, state
from vigil.store.enums import WatchAction

# The database layer loads in the commands (`vigil watchlists --help` stays light).

app = typer.Typer(help="The site's watchlists: action and confirmations.", no_args_is_help=True)

CONFIRMATIONS_HELP = (
    "Different people who confirm a match before it is acted on (0: none; default 2 for "
    "alert lists, 0 otherwise)."
)


@app.command("list")
def list_cmd(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable.")
) -> None:
    """Every watchlist with its action, confirmations and number of members."""
    from vigil.events.watchlists import list_watchlists, watchlist_members

    db = state(ctx).db()
    rows = [
        {
            "name": w.name,
            "action": w.action.value,
            "confirmations_required": w.confirmations_required,
            "members": len(watchlist_members(db, w.name)),
            "from_hub": w.hub_uid is not None,
        }
        for w in list_watchlists(db)
    ]
    if as_json:
        print_json(rows)
        return
    t = Table("name", "action", "confirmations", "members", "from hub")
    for r in rows:
        t.add_row(
            str(r["name"]),
            str(r["action"]),
            str(r["confirmations_required"] or "-"),
            str(r["members"]),
            "yes" if r["from_hub"] else "",
        )
    console.print(t)


@app.command("create")
def create_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    action: WatchAction = typer.Option(WatchAction.notify, "--action"),
    confirmations: int | None = typer.Option(None, "--confirmations", help=CONFIRMATIONS_HELP),
    notes: str = typer.Option("", "--notes"),
) -> None:
    """Create a watchlist."""
    from vigil.events.watchlists import create_watchlist
    from vigil.privacy.audit import Action

    st = state(ctx)
    wl = create_watchlist(st.db(), name, action, notes, confirmations)
    st.audit(
        Action.change_watchlist,
        target=("watchlist", str(wl.id)),
        details={
            "change": "create",
            "name": name,
            "action": action.value,
            "confirmations_required": wl.confirmations_required,
        },
    )
    console.print(
        f"watchlist {name} created ({action.value}, "
        f"{wl.confirmations_required or 'no'} confirmations)"
    )


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    action: WatchAction | None = typer.Option(None, "--action"),
    confirmations: int | None = typer.Option(None, "--confirmations", help=CONFIRMATIONS_HELP),
) -> None:
    """Change a watchlist's action or confirmations."""
    from vigil.events.watchlists import update_watchlist
    from vigil.privacy.audit import Action

    st = state(ctx)
    wl = update_watchlist(st.db(), name, action=action, confirmations_required=confirmations)
    changes = {
        k: v
        for k, v in {"action": action, "confirmations_required": confirmations}.items()
        if v is not None
    }
    st.audit(
        Action.change_watchlist,
        target=("watchlist", str(wl.id)),
        details={"change": "update", "name": name, "changes": changes},
    )
    console.print(
        f"watchlist {name}: {wl.action.value}, {wl.confirmations_required or 'no'} confirmations"
    )
