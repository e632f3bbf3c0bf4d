"""`vigil push ...`: the devices users enabled notifications on, the site's VAPID key, and a
test notification to one device (sent at once, outside the outbox: a check, not an alert)."""

from __future__ import annotations

import typer
from rich.table import Table

from vigil.cli.state import console, print_json, state

# The database layer and pywebpush load in the commands (`vigil push --help` stays light).

app = typer.Typer(help="Web Push: devices told of alerts and review items.", no_args_is_help=True)


@app.command("list")
def list_cmd(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable.")
) -> None:
    """Every subscribed device: whose, what it asked for, when it was last told."""
    from sqlalchemy import select

    from vigil.notify.subscriptions import subscriptions
    from vigil.store.models.users import User

    db = state(ctx).db()
    with db.session() as s:
        names = {i: n for i, n in s.execute(select(User.id, User.username))}
    rows = [
        {
            "id": sub.id,
            "user": names.get(sub.user_id, "?"),
            "label": sub.label,
            "alerts": sub.alerts,
            "reviews": sub.reviews,
            "cameras": list(sub.cameras or []),
            "last_sent_at": sub.last_sent_at.isoformat() if sub.last_sent_at else None,
        }
        for sub in subscriptions(db)
    ]
    if as_json:
        print_json(rows)
        return
    t = Table("id", "user", "device", "told of", "cameras", "last told")
    for r in rows:
        what = [w for w, on in (("alerts", r["alerts"]), ("review items", r["reviews"])) if on]
        cams = ", ".join(r["cameras"]) or "all"  # type: ignore[arg-type]
        t.add_row(
            str(r["id"]),
            str(r["user"]),
            str(r["label"]),
            ", ".join(what),
            cams,
            str(r["last_sent_at"] or "-"),
        )
    console.print(t)


@app.command("remove")
def remove_cmd(ctx: typer.Context, sub_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Stop notifications to a device (its pending ones are given up)."""
    from vigil.notify.subscriptions import unsubscribe

    unsubscribe(state(ctx).db(), sub_id)
    console.print(f"removed device {sub_id}")


@app.command("key")
def key_cmd(ctx: typer.Context) -> None:
    """The site's VAPID public key (made on first use in <data_dir>/vapid.pem)."""
    from vigil.notify.vapid import load_or_create

    typer.echo(load_or_create(state(ctx).data_dir).public_b64)  # unwrapped, to copy


@app.command("test")
def test_cmd(ctx: typer.Context, sub_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Send a test notification to one device now and print the push service's answer."""
    import httpx

    from vigil.errors import NotFoundError, VigilError
    from vigil.notify import push
    from vigil.notify.vapid import load_or_create
    from vigil.store.models.push import PushSubscription

    st = state(ctx)
    cfg = st.config.notify.push
    with st.db().session() as s:
        sub = s.get(PushSubscription, sub_id)
    if sub is None:
        raise NotFoundError(f"no push subscription {sub_id}", hint="see `vigil push list`")
    message = {"kind": "test", "title": "Vigil", "body": "Test notification", "url": "/"}
    with httpx.Client(follow_redirects=False) as client:
        r = push.send(
            client,
            sub,
            push.encode(message),
            keys=load_or_create(st.data_dir),
            subject=cfg.subject,
            ttl_s=60,
            urgency="normal",
            timeout_s=cfg.timeout_s,
        )
    if not r.ok:
        gone = " (the device unsubscribed: `vigil push remove`)" if r.gone else ""
        raise VigilError(f"push service answered {r.error}{gone}")
    console.print(f"sent: HTTP {r.status} in {r.duration_ms:.0f} ms")
