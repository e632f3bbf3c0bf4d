"""`vigil hub`: serve the hub (`HubNode`, settings in `hub.yaml`), or work on its database:
its gallery (people, watchlist, search, pending, push), retention now, a clip from a site.

`--hub-config FILE` names the hub's settings (default `./hub.yaml` when present, else the
defaults); `--hub-dir DIR` overrides its `hub_dir`, e.g. `vigil hub --hub-dir /srv/hub people
list`. Site passwords come from the files or environment variables `hub.yaml` names, never
from the command line. Every change and search is written to the hub's audit log (keys in the
hub folder). Pushes to the sites are queued at once and sent by the running `vigil hub` (or
`vigil hub push`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from vigil.cli.state import current_user, print_json
from vigil.errors import InputError
from vigil.store.enums import LegalBasis, WatchAction

# The database layer and the hub load when a command runs, not for `--help`.
if TYPE_CHECKING:
    from vigil.faces.engine import FaceEngine
    from vigil.hub.config import HubConfig
    from vigil.hub.node import HubNode
    from vigil.privacy.audit import AuditLog
    from vigil.store.db import Database

hub_app = typer.Typer(
    help="The hub: serve it (settings in hub.yaml), or manage its gallery.",
    no_args_is_help=False,
)
people_app = typer.Typer(help="People enrolled at the hub.", no_args_is_help=True)
watchlist_app = typer.Typer(
    help="Hub watchlists: their members are pushed to the sites they name.", no_args_is_help=True
)
hub_app.add_typer(people_app, name="people")
hub_app.add_typer(watchlist_app, name="watchlist")
console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(hub_app, name="hub")


@hub_app.callback(invoke_without_command=True)
def hub(
    ctx: typer.Context,
    hub_config: Path | None = typer.Option(
        None, "--hub-config", help="The hub's settings (default: ./hub.yaml when present)."
    ),
    hub_dir: Path | None = typer.Option(None, "--hub-dir", help="Override hub_dir of hub.yaml."),
) -> None:
    """Serve the hub: a nats-server with one leaf login per site of hub.yaml, the consumer
    that pulls every site's events, camera status, audit records and thumbnails into the hub
    database, the pusher that sends the hub gallery's changes to the sites, hourly retention,
    and with `web: true` the web UI and API. With a subcommand (people, watchlist, search,
    ...), hub.yaml only names the hub's folder, database and nats-server."""
    from vigil.hub.config import load_hub_config

    cfg = load_hub_config(hub_config)
    if hub_dir is not None:
        cfg = cfg.model_copy(update={"hub_dir": hub_dir})
    ctx.meta["hub_config"] = cfg
    if ctx.invoked_subcommand is not None:
        return
    from vigil.cli.serve_cmd import print_setup_code
    from vigil.hub.node import HubNode

    def started(node: HubNode) -> None:
        n = cfg.nats
        console.print(
            f"hub: nats nats://{n.host}:{n.port}, leaf nodes on {n.host}:{n.leaf_port}, "
            f"sites: {', '.join(cfg.site_names)}"
        )
        if cfg.web:
            console.print(
                f"hub web UI and API on http://{cfg.api.host}:{cfg.api.port}/  "
                "(API docs: /api/v1/docs)"
            )
        r = cfg.retention
        console.print(
            f"hub retention: events {r.event_days:g} days, audit copies {r.audit_days:g} days"
        )

    node = HubNode(cfg, on_web_ready=print_setup_code)
    try:
        node.serve(on_started=started)
    finally:
        if node.consumer is not None:
            s = node.consumer.stored
            console.print(
                f"stored {s.events} events, {s.updates} updates, {s.deleted} deletions "
                f"({s.duplicates} duplicates ignored), "
                f"{s.audit} audit records, {s.status} status updates, {s.thumbnails} thumbnails"
            )


def hub_settings(ctx: typer.Context) -> HubConfig:
    """The hub.yaml settings `vigil hub` read for this command."""
    from vigil.hub.config import load_hub_config

    cfg = ctx.meta.get("hub_config")
    return cfg if cfg is not None else load_hub_config()


def _engine(ctx: typer.Context) -> FaceEngine:
    from vigil.faces.engine import FaceEngine

    return FaceEngine(hub_settings(ctx).faces)


@contextmanager
def hub_db(ctx: typer.Context) -> Iterator[tuple[Database, AuditLog, Path]]:
    """The hub database, its audit log and its folder."""
    from vigil.hub.node import open_hub_db
    from vigil.privacy.audit import AuditLog

    cfg = hub_settings(ctx)
    db = open_hub_db(cfg)
    try:
        yield db, AuditLog(cfg.hub_dir), cfg.hub_dir
    finally:
        db.close()


def _nats_url(ctx: typer.Context) -> str:
    n = hub_settings(ctx).nats
    return f"nats://{n.host}:{n.port}"


def _actor() -> Any:
    from vigil.hub.actor import Actor

    return Actor(current_user(), "cli")


# --- people ---


@people_app.command("enrol")
def people_enrol(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The person's name."),
    photos: list[Path] = typer.Option(..., "--photo", help="A photo with one clear face."),
    legal_basis: LegalBasis = typer.Option(..., "--legal-basis", help="Why this is lawful."),
    note: str = typer.Option("", "--note", help="Written justification (needed for some bases)."),
    review_at: datetime | None = typer.Option(
        None, "--review-at", help="When to review this enrolment (date)."
    ),
    reason: str = typer.Option(..., "--reason", help="Why this person is enrolled (audited)."),
) -> None:
    """Enrol a person at the hub; pushed to the sites of the watchlists they are put on."""
    from vigil.faces.gallery import check_photos
    from vigil.hub.gallery import TemplateIn, enrol

    engine = _engine(ctx)
    photos_ok = check_photos(engine, photos)
    templates = [
        TemplateIn(
            p.observation.embedding,  # type: ignore[arg-type]  # checked photos are embedded
            p.sha256,
            p.observation.quality.score,
            engine.model_name,
        )
        for p in photos_ok
    ]
    with hub_db(ctx) as (db, audit, _):
        uid, added = enrol(
            db,
            audit,
            _actor(),
            name,
            templates,
            legal_basis=legal_basis,
            legal_basis_note=note,
            review_at=review_at.replace(tzinfo=UTC) if review_at else None,
            reason=reason,
        )
    console.print(f"enrolled [bold]{name}[/] at the hub ({uid}): {added} new template(s)")


@people_app.command("remove")
def people_remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The person's name."),
    reason: str = typer.Option(..., "--reason", help="Why they are removed (audited)."),
) -> None:
    """Remove a person at the hub and at every site they were pushed to (with their identity
    on past events there)."""
    from vigil.hub.gallery import remove_person

    with hub_db(ctx) as (db, audit, _):
        n = remove_person(db, audit, _actor(), name, reason=reason)
    console.print(f"removed {name} at the hub ({n} template(s)); removal queued for their sites")


@people_app.command("list")
def people_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """People at the hub, their watchlists, the sites they are sent to and those that deleted
    them on their own (who, why)."""
    from dataclasses import asdict

    from vigil.hub.gallery import list_people
    from vigil.hub.placement import placements

    with hub_db(ctx) as (db, _, _):
        people = list_people(db)
        where = placements(db)
    if as_json:
        print_json([asdict(p) for p in people])
        return
    if not people:
        console.print("nobody is enrolled at the hub")
        return
    t = Table(
        "name", "templates", "legal basis", "watchlists", "sites", "removed by site", "enrolled by"
    )
    for p in people:
        removed = [x for x in where.get(p.uid, []) if x.state == "removed_by_site"]
        t.add_row(
            p.name,
            str(p.templates),
            p.legal_basis,
            ", ".join(p.watchlists) or "-",
            ", ".join(p.sites) or "-",
            "\n".join(
                f"{x.site} by {x.removed_by or '?'}: {x.removed_reason or 'no reason'}"
                for x in removed
            )
            or "-",
            p.enrolled_by,
        )
    console.print(t)


# --- watchlists ---


@watchlist_app.command("create")
def watchlist_create(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    action: WatchAction = typer.Option(WatchAction.notify, "--action"),
    sites: list[str] = typer.Option([], "--site", help="A site it is pushed to (repeat)."),
    notes: str = typer.Option("", "--notes"),
    confirmations: int | None = typer.Option(
        None,
        "--confirmations",
        help="People who confirm a match at a site before it is acted on (0-3; default: "
        "the site's, 2 for alert lists).",
    ),
) -> None:
    """Create a hub watchlist naming the sites it (and its members) go to."""
    from vigil.hub.gallery import create_watchlist

    with hub_db(ctx) as (db, audit, _):
        create_watchlist(
            db,
            audit,
            _actor(),
            name,
            action=action,
            sites=sites,
            notes=notes,
            confirmations=confirmations,
        )
    console.print(f"watchlist {name} created for {', '.join(sorted(set(sites))) or 'no site'}")


@watchlist_app.command("update")
def watchlist_update(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    action: WatchAction | None = typer.Option(None, "--action"),
    add_sites: list[str] = typer.Option([], "--add-site"),
    remove_sites: list[str] = typer.Option([], "--remove-site"),
    confirmations: int | None = typer.Option(
        None, "--confirmations", help="People who confirm a match at a site (0-3)."
    ),
) -> None:
    """Change a watchlist's action, confirmations or its sites (a site dropped loses its
    members)."""
    from vigil.hub.gallery import update_watchlist

    with hub_db(ctx) as (db, audit, _):
        update_watchlist(
            db,
            audit,
            _actor(),
            name,
            action=action,
            add_sites=add_sites,
            remove_sites=remove_sites,
            confirmations=confirmations,
        )
    console.print(f"watchlist {name} updated")


@watchlist_app.command("add")
def watchlist_add(ctx: typer.Context, watchlist: str, person: str) -> None:
    """Put a hub person on a watchlist (pushed to its sites)."""
    from vigil.hub.gallery import set_member

    with hub_db(ctx) as (db, audit, _):
        changed = set_member(db, audit, _actor(), watchlist, person, member=True)
    console.print(f"{person} {'added to' if changed else 'was already on'} {watchlist}")


@watchlist_app.command("drop")
def watchlist_drop(ctx: typer.Context, watchlist: str, person: str) -> None:
    """Take a person off a watchlist (removed from sites no other list of theirs names)."""
    from vigil.hub.gallery import set_member

    with hub_db(ctx) as (db, audit, _):
        changed = set_member(db, audit, _actor(), watchlist, person, member=False)
    console.print(f"{person} {'taken off' if changed else 'was not on'} {watchlist}")


@watchlist_app.command("delete")
def watchlist_delete(ctx: typer.Context, name: str) -> None:
    """Delete a hub watchlist (and its copies at the sites)."""
    from vigil.hub.gallery import delete_watchlist

    with hub_db(ctx) as (db, audit, _):
        delete_watchlist(db, audit, _actor(), name)
    console.print(f"watchlist {name} deleted")


@watchlist_app.command("list")
def watchlist_list(ctx: typer.Context) -> None:
    from vigil.hub.gallery import list_watchlists

    with hub_db(ctx) as (db, _, _):
        lists = list_watchlists(db)
    if not lists:
        console.print("no hub watchlists")
        return
    t = Table("name", "action", "sites", "members")
    for w in lists:
        t.add_row(w.name, w.action, ", ".join(w.sites) or "-", ", ".join(w.members) or "-")
    console.print(t)


# --- search, pushes ---


@hub_app.command("search")
def search(
    ctx: typer.Context,
    photo: Path = typer.Option(..., "--photo", help="A photo of the face to search for."),
    reason: str = typer.Option("", "--reason", help="Why you search (required, audited)."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    ef_search: int = typer.Option(200, "--ef-search", min=10, max=1000, help="HNSW breadth."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search by photo across every site: the hub person it is (open-set), then their events."""
    from vigil.faces.calibration import load_calibration
    from vigil.hub.actor import need_reason
    from vigil.hub.search import search_across_sites
    from vigil.vision.image import load_image, read_bytes

    reason = need_reason(reason, "a search by photo")  # refused before the photo is read
    engine = _engine(ctx)
    faces = engine.analyze(load_image(read_bytes(photo), label=str(photo)))
    if not faces or faces[0].embedding is None:
        raise InputError(f"{photo}: no face found", hint="use a photo where the face is clear")
    with hub_db(ctx) as (db, audit, hub_dir):
        threshold = hub_settings(ctx).faces.match_threshold
        cal = load_calibration(hub_dir, engine.model_name, threshold)
        r = search_across_sites(
            db,
            faces[0].embedding,
            who=_actor(),
            reason=reason,
            audit=audit,
            calibration=cal,
            limit=limit,
            ef_search=ef_search,
        )
    m = r.match
    events: list[dict[str, Any]] = [
        {"site": e.site, "camera": e.camera, "kind": e.kind, "start": e.start, "uid": e.uid}
        for e in r.events
    ]
    if as_json:
        print_json(
            {
                "known": m.known,
                "person_uid": m.person_uid,
                "name": m.name,
                "score": round(m.score, 4),
                "confidence": round(m.confidence, 4),
                "method": r.method,
                "events": events,
            }
        )
        return
    if not m.known:
        console.print(f"unknown: nobody at the hub scores above {m.threshold:.3f}")
        return
    console.print(f"[bold]{m.name}[/] (score {m.score:.3f}, {r.method}): {len(events)} event(s)")
    t = Table("site", "camera", "kind", "start")
    for e in events:
        t.add_row(e["site"], e["camera"], e["kind"], f"{e['start']:%Y-%m-%d %H:%M:%S}")
    console.print(t)


@hub_app.command("pending")
def pending(ctx: typer.Context) -> None:
    """Pushes still waiting for their site (offline, or refused: see the error)."""
    from vigil.hub.pusher import pending_pushes

    with hub_db(ctx) as (db, _, _):
        rows = pending_pushes(db)
    if not rows:
        console.print("every site has everything the hub sent")
        return
    t = Table("site", "command", "uid", "attempts", "last error")
    for p in rows:
        t.add_row(p.site, p.verb, p.uid, str(p.attempts), p.last_error or "-")
    console.print(t)


@hub_app.command("push")
def push(ctx: typer.Context) -> None:
    """Send the waiting pushes now, through the running hub's nats-server (one round)."""
    from vigil.hub.pusher import HubPusher
    from vigil.sync.server import HubAccess, connect_site, hub_secret

    with hub_db(ctx) as (db, _, hub_dir):
        access = HubAccess(_nats_url(ctx), hub_secret(hub_dir))

        async def main() -> Any:
            pusher = HubPusher(
                db,
                lambda site: connect_site(
                    access, site, allow_reconnect=False, max_reconnect_attempts=0
                ),
            )
            try:
                return await pusher.push_once()
            finally:
                await pusher.close()

        r = asyncio.run(main())
    away = ", ".join(sorted(set(r.unreachable))) or "-"
    console.print(f"sent {r.sent}, refused {r.refused}, unreachable: {away}")


@hub_app.command("retention")
def retention(ctx: typer.Context) -> None:
    """Delete the hub's copies past their retention now (`vigil hub` also does it hourly):
    events and thumbnails after retention.event_days of hub.yaml, audit copies after
    retention.audit_days."""
    from vigil.hub.retention import HubRetention, run_hub_retention

    policy = HubRetention.from_config(hub_settings(ctx))
    with hub_db(ctx) as (db, _audit, hub_dir):
        run = run_hub_retention(db, policy, hub_dir / "thumbs")
    console.print(
        f"hub retention ({policy.event_days:g} days events, {policy.audit_days:g} days audit): "
        f"deleted {run.events} events, {run.thumbnails} thumbnails, {run.audit} audit copies, "
        f"{run.tombstones} tombstones"
    )


@hub_app.command("clip")
def clip(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site that has the footage."),
    camera: str = typer.Argument(..., help="The camera at that site."),
    start: datetime = typer.Option(..., "--from", help="Start (ISO, with a time zone)."),
    end: datetime = typer.Option(..., "--to", help="End (ISO, with a time zone)."),
    reason: str = typer.Option("", help="Why (required; audited at the site and the hub)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to put the ZIP in."),
    redact: bool = typer.Option(True, "--redact/--no-redact", help="Pixelate faces."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for the site."),
) -> None:
    """Fetch a clip from a site through the running hub's nats-server (`nats` of hub.yaml):
    the site cuts, redacts, signs and audits it; the hub audits it too."""
    from nats.errors import NoServersError

    from vigil.privacy.audit import Action
    from vigil.sync.clips import ClipRequest, fetch_clip
    from vigil.sync.server import HubAccess, connect_site, hub_secret

    req = ClipRequest(camera, start, end, reason, current_user(), redact).validated()

    async def fetch(access: HubAccess):
        nc = await connect_site(access, site, max_reconnect_attempts=0, connect_timeout=5)
        try:
            return await fetch_clip(nc, site, req, out, timeout=timeout)
        finally:
            await nc.close()

    with hub_db(ctx) as (db, audit, hub_dir):
        url = _nats_url(ctx)
        try:
            got = asyncio.run(fetch(HubAccess(url, hub_secret(hub_dir))))
        except (OSError, NoServersError) as exc:
            raise InputError(f"the hub's nats-server at {url} is not reachable") from exc
        audit.record(
            db,
            actor=req.who,
            action=Action.export,
            reason=req.reason,
            camera=camera,
            source="cli",
            details=got.audit_details(),
        )
    console.print(f"{got.path} ({got.size} bytes, {'redacted' if got.redacted else 'original'})")


# --- the sites' audit chains, witnessed by the hub (0065) ---

audit_app = typer.Typer(help="The sites' audit chains, witnessed by the hub.", no_args_is_help=True)
hub_app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site whose chain to check."),
    ask: bool = typer.Option(
        True, "--ask/--no-ask", help="Ask the site for its chain now (over the running hub)."
    ),
    timeout: float = typer.Option(5.0, help="Seconds to wait for the site."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compare the site's signed heads the hub kept with the audit records it holds and with
    the site's chain now; exit 4 and name the records the site lost."""
    from vigil.cli.audit_cmd import EXIT_BROKEN
    from vigil.hub.audit_witness import ask_and_verify
    from vigil.privacy.audit import Action
    from vigil.sync.server import HubAccess, connect_site, hub_secret

    with hub_db(ctx) as (db, audit, hub_dir):
        access = HubAccess(_nats_url(ctx), hub_secret(hub_dir))

        async def connect(name: str) -> Any:
            return await connect_site(
                access, name, max_reconnect_attempts=0, connect_timeout=timeout
            )

        report, unreachable = asyncio.run(
            ask_and_verify(db, site, connect if ask else None, timeout)
        )
        audit.record(
            db,
            actor=current_user(),
            action=Action.audit_verify,
            source="cli",
            target=("site", site),
            details={"ok": report.ok, "asked": report.asked, "lost": report.lost_seqs()},
        )
    if as_json:
        print_json({**report.as_dict(), "unreachable": unreachable or None})
    else:
        newest = (
            f"newest signed head at record {report.newest_seq} "
            f"({report.newest_time:%Y-%m-%d %H:%M:%S} UTC)"
            if report.newest_time is not None
            else "no signed head yet"
        )
        console.print(
            f"{site}: {report.heads} head(s), {newest}; {report.records_held} audit record(s) "
            f"held, up to {report.records_max or '-'}"
        )
        if report.asked:
            console.print(
                f"the site's chain now ends at record {report.site_last_seq or 0}"
                + (
                    f" (retention anchor {report.site_anchor_seq})"
                    if report.site_anchor_seq
                    else ""
                )
            )
        elif ask:
            console.print(
                f"[yellow]the site did not answer[/] ({unreachable or 'no reply'}): compared "
                "the heads and records the hub holds only"
            )
        for x in report.losses:
            console.print(f"[bold red]lost records {x.seqs()}:[/] {x.why}")
        for p in report.problems:
            console.print(f"[red]problem:[/] {p}")
        if report.ok:
            console.print("[green]no loss detected[/]")
        elif report.losses:
            console.print(f"[bold red]records lost at {site}: {report.lost_seqs()}[/]")
    if not report.ok:
        raise typer.Exit(EXIT_BROKEN)


@audit_app.command("pin")
def audit_pin(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site."),
    pubkey: Path = typer.Argument(..., help="The site's public key (`vigil audit pubkey`)."),
) -> None:
    """Trust this public key for the site's heads (after the site rotated its key)."""
    from vigil.hub.audit_witness import pin
    from vigil.privacy.audit import Action

    try:
        pem = pubkey.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {pubkey}: {exc.strerror}") from exc
    with hub_db(ctx) as (db, audit, _hub_dir):
        key_id = pin(db, site, pem)
        audit.record(
            db,
            actor=current_user(),
            action=Action.change_config,
            source="cli",
            target=("site_key", f"{site}/{key_id}"),
        )
    console.print(f"pinned key {key_id} for {site}'s audit heads")
