"""Storage: the recordings disk's alarm (may recording write, who uses the space) and the
temporary space under `<data_dir>/tmp`."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from vigil.api.deps import Ctx, Viewer
from vigil.camera.footage_retention import storage_status
from vigil.storage import TmpSpace

router = APIRouter(prefix="/storage", tags=["storage"])


class StorageOut(BaseModel):
    alarm: bool = Field(description="True while recording is paused for lack of disk space.")
    reason: str = Field(description="Why, naming who uses the disk; empty when no alarm.")
    recording_paused: bool
    checked_at: str
    retention_ran_at: str | None = Field(description="The retention pass the figures are from.")
    free_bytes: int
    min_free_bytes: int
    quota_bytes: int | None
    total_bytes: int | None
    footage_bytes: int | None = Field(description="Vigil's recordings (as indexed).")
    vigil_other_bytes: int | None = Field(
        description="Vigil's other files under data_dir on the recordings filesystem."
    )
    vigil_other: dict[str, int] = Field(
        description="... by kind: database, snapshots, exports, caches, tmp, other."
    )
    other_bytes: int | None = Field(description="Files on that filesystem that are not Vigil's.")
    held_back: dict[str, dict[str, int]] = Field(
        description="Limits deleting could not meet (so nothing was deleted for them)."
    )
    tmp_used_bytes: int
    tmp_max_bytes: int


@router.get("", response_model=StorageOut, summary="Storage alarm and who uses the disk")
def get_storage(p: Viewer, ctx: Ctx) -> StorageOut:
    status = storage_status(ctx.data_dir, ctx.config.recording)
    tmp = TmpSpace.from_config(ctx.config)
    return StorageOut(**status, tmp_used_bytes=tmp.used(), tmp_max_bytes=tmp.max_bytes)
