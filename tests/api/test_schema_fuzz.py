"""schemathesis against the OpenAPI schema: no generated request gets a server error."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.helpers import Client
from vigil.api import ApiContext, accounts, create_app

# Endless streams, or requests that lock the fuzzer out.
SKIP = r"(/live\.mjpeg$|/events/stream$|/auth/(logout|password|tokens/\{token_id\})$)"


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
