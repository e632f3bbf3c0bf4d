"""A read-only view of the configuration, with secrets redacted (admin only)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter

from vigil.api.deps import Ctx, SettingsReader
from vigil.camera.source import redact_url

router = APIRouter(prefix="/settings", tags=["settings"])

SECRET_KEYS = re.compile(r"(password|secret|token|key)$", re.IGNORECASE)
URL_KEYS = {"url", "sub_url", "database_url"}
REDACTED = "***"


def redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if value is None or value == "":
        return value
    if SECRET_KEYS.search(key):
        return REDACTED
    if key in URL_KEYS and isinstance(value, str):
        return redact_url(value)
    return value


@router.get("", summary="The running configuration (passwords, secrets and URL credentials hidden)")
def settings(p: SettingsReader, ctx: Ctx) -> dict[str, Any]:
    return redact(ctx.config.model_dump(mode="json"))
