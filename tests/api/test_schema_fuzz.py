"""schemathesis against the OpenAPI schema: no generated request gets a server error."""

from __future__ import annotations

import re
from itertools import product

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.helpers import Client
from vigil.api import ApiContext, accounts, create_app

# Endless streams, or requests that lock the fuzzer out.
SKIP = (
    r"(/live\.mjpeg$|/live/stream$|/events/stream$"
    r"|/auth/(logout|password|tokens/\{token_id\})$)"
)


def test_no_server_errors(ctx: ApiContext, clients: dict[str, Client]) -> None:
    admin = next(a for a in accounts.list_users(ctx.db) if a.username == "admin")
    token, _ = accounts.create_token(ctx.db, admin.id, "fuzz")
    auth = {"Authorization": f"Bearer {token}"}
    ctx.live.publish("lobby", b"\xff\xd8\xff\xd9")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(ctx, web=False))
    failures: list[str] = []
    operations = 0
    for result in schema.exclude(path_regex=SKIP).get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            r = case.call(headers={**(case.headers or {}), **auth})
            if r.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {r.status_code}: {r.text}")

        run()
    assert operations >= 25
    assert not failures, "\n".join(failures[:10])


# Shapes random generation rarely reaches: far-off dates with the widest offsets (before year 1
# or after 9999 once in UTC), no zone, and cursors with such times or ids past 64 bits.
_TIMES = [
    f"{d}{z}"
    for d, z in product(
        ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "1969-12-31T23:59:59", "2026-01-01"],
        ["+14:00", "-14:00", "Z", ""],
    )
]
_CURSORS = [f"{t}|{i}" for t in _TIMES[::3] for i in ("1", "0", "-1", "9" * 23, "x")]
_CURSORS += ["", "|", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z|1|2"]


def test_time_and_cursor_parameters_as_a_class(ctx: ApiContext, clients: dict[str, Client]) -> None:
    """Every GET with a date-time or cursor query parameter, each extreme value: an answer
    below 500, in JSON, that names the parameter when validation refuses it."""
    c = clients["admin"]
    spec = c.get("/api/v1/openapi.json").json()
    tried = 0
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op is None or re.search(SKIP, path):
            continue
        params = op.get("parameters", [])
        url = "/api/v1" + re.sub(r"\{[^}]+\}", "lobby", path.removeprefix("/api/v1"))
        for prm in params:
            if prm["in"] != "query":
                continue
            schema = prm.get("schema", {})
            kinds = [schema, *schema.get("anyOf", [])]
            if any(k.get("format") == "date-time" for k in kinds):
                values = _TIMES
            elif prm["name"] == "cursor":
                values = _CURSORS
            else:
                continue
            for v in values:
                r = c.get(url, params={prm["name"]: v})
                tried += 1
                assert r.status_code < 500, f"{url}?{prm['name']}={v} -> {r.status_code}: {r.text}"
                assert r.headers["content-type"].startswith("application/json"), (url, v)
                if r.status_code == 422 and "errors" in r.json():  # refused by validation
                    assert prm["name"] in r.json()["detail"], (url, v, r.text)
    assert tried >= 8 * len(_TIMES)  # events, audit, recordings, zone report... each twice
