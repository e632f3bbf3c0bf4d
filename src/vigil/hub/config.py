"""`hub.yaml`: everything a hub runs with, in one file of its own (`HubConfig`).

Every field has a default; an unknown key is an error with its line (like `vigil.yaml`).
Site passwords are never in this file nor on a command line (where `ps` shows them): each site
names a file holding its password (`password_file`, one line, readable by the hub's user only)
or an environment variable (`password_env`). They are read when the hub starts
(`HubSite.password`), and a missing or empty one stops it with the site's name.

The hub's web API reuses the site's `api` settings (sessions, cookies, limits) and its `faces`
settings (the model that enrols and searches by photo); `api_config` gives the `VigilConfig`
the shared routes run with, its data folder the hub folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from vigil.config import (
    ApiConfig,
    FacesConfig,
    PrivacyConfig,
    Section,
    SiteConfig,
    StorageConfig,
    VigilConfig,
    load_yaml_model,
    yaml_model_errors,
)
from vigil.errors import ConfigError

DEFAULT_HUB_CONFIG_PATH = Path("hub.yaml")
SITE_ID = r"^[A-Za-z0-9_-]{1,64}$"


class HubSite(Section):
    """One site allowed to connect to the hub's leaf-node port, and where its password is."""

    name: Annotated[str, Field(pattern=SITE_ID)] = Field(
        ..., description="The site's id: its `sync.site_id` (leaf-node user, JetStream domain)."
    )
    password_file: Path | None = Field(
        None,
        description="File holding the site's leaf-node password (its `sync.password`), one "
        "line; keep it readable by the hub's user only.",
    )
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(
        None, description="Environment variable holding the site's leaf-node password."
    )

    @model_validator(mode="after")
    def _one_source(self) -> HubSite:
        if (self.password_file is None) == (self.password_env is None):
            raise ValueError(f"site {self.name}: give exactly one of password_file, password_env")
        return self

    def password(self) -> str:
        """The password, read now from its file or environment variable."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env, "").strip()
            where = f"environment variable {self.password_env}"
        else:
            assert self.password_file is not None
            try:
                value = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"site {self.name}: cannot read {self.password_file}: {exc.strerror}"
                ) from exc
            where = str(self.password_file)
        if not value:
            raise ConfigError(f"site {self.name}: no password in {where}")
        return value


class HubNatsConfig(Section):
    """The hub's own nats-server (started by `vigil hub`)."""

    host: str = Field("127.0.0.1", description="Address the hub's nats-server listens on.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(4222, description="Client port.")
    http_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        8222, description="Monitoring port (health, which sites are linked: /leafz)."
    )
    leaf_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        7422, description="Leaf-node port the sites connect to (their `sync.hub_url`)."
    )


class HubRetentionConfig(Section):
    """How long the hub keeps its copies of the sites' data (the sites keep their own)."""

    event_days: Annotated[float, Field(gt=0)] = Field(
        30, description="Days the hub keeps events and thumbnails copied from the sites."
    )
    audit_days: Annotated[float, Field(gt=0)] = Field(
        365, description="Days the hub keeps its copies of the sites' audit records."
    )


class HubConfig(Section):
    """Top-level `hub.yaml`."""

    name: str = Field("hub", description="The hub's name, shown in its web UI.")
    hub_dir: Path = Field(
        Path("var-hub"),
        description="Hub folder: database (SQLite), thumbnails, keys, audit chain, nats files.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the hub database. Default: SQLite `hub.db` in hub_dir "
        "(or the embedded PostgreSQL with `postgres: true`).",
    )
    postgres: bool = Field(
        False,
        description="Run an embedded PostgreSQL + pgvector (pgserver) under <hub_dir>/pg: "
        "faster ingest and indexed search by photo.",
    )
    sites: list[HubSite] = Field(
        default_factory=list, description="The sites allowed to connect (at least one to serve)."
    )
    nats: HubNatsConfig = Field(default_factory=HubNatsConfig)
    web: bool = Field(False, description="Serve the hub's web UI and API on api.host:api.port.")
    api: ApiConfig = Field(
        default_factory=ApiConfig,
        description="The hub's web UI and API: address, sessions, cookies, limits.",
    )
    faces: FacesConfig = Field(
        default_factory=FacesConfig,
        description="Face model and threshold for enrolling and searching by photo at the hub.",
    )
    retention: HubRetentionConfig = Field(default_factory=HubRetentionConfig)

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: list[HubSite]) -> list[HubSite]:
        names = [s.name for s in sites]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"site names must be unique; repeated: {', '.join(dupes)}")
        return sites

    @property
    def site_names(self) -> list[str]:
        return [s.name for s in self.sites]

    def api_config(self) -> VigilConfig:
        """The config the shared routes (accounts, audit, photo checks) run with at the hub:
        its data folder (keys, set-up code) is the hub folder."""
        return VigilConfig(
            site=SiteConfig(name=self.name),
            storage=StorageConfig(data_dir=self.hub_dir),
            faces=self.faces,
            api=self.api,
            privacy=PrivacyConfig(audit_retention_days=self.retention.audit_days),
        )


SECTIONS = "hub_dir:, sites:, nats:, ..."


def hub_config_errors(text: str) -> list[str]:
    """All problems in a hub.yaml text, each as 'line N: path: message'. Empty if valid."""
    return yaml_model_errors(HubConfig, text, SECTIONS)


def load_hub_config(path: Path | None = None) -> HubConfig:
    """Load hub.yaml (defaults when the default file is absent); ConfigError on errors."""
    return load_yaml_model(HubConfig, path, DEFAULT_HUB_CONFIG_PATH, SECTIONS)
