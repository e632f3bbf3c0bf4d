"""The ONVIF panels in real Chromium: an admin discovers the simulated camera and adds it from
the cameras page; on the camera page, holding an arrow moves it and a preset is recalled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.onvif.conftest import PASSWORD, USER
from tests.web.conftest import browser, serve
from tests.web.test_privacy_view_ui import PASSWORD as LOGIN
from tests.web.test_privacy_view_ui import login
from vigil.api import ApiContext, accounts, create_app
from vigil.bench.onvif_camera import SimulatedCamera
from vigil.config import VigilConfig, load_config
from vigil.store.db import Database
from vigil.store.models import Role

__all__ = ["browser"]  # the shared Chromium fixture
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def web(site: Path) -> Iterator[SimpleNamespace]:
    cfg = VigilConfig.model_validate(yaml.safe_load(site.read_text()))
    db = Database(cfg.storage.resolved_database_url())
    accounts.create_user(db, "admin", LOGIN, Role.admin, created_by="test")
    ctx = ApiContext(cfg, db, config_path=site)
    with serve(create_app(ctx)) as url:
        yield SimpleNamespace(url=url, ctx=ctx)
    db.close()


def test_discover_add_and_ptz_in_the_browser(  # type: ignore[no-untyped-def]
    web: SimpleNamespace, browser, camera: SimulatedCamera, site: Path
) -> None:
    page = login(web, browser, "admin")  # type: ignore[arg-type]
    panel = page.locator("#onvif-discover")
    panel.locator("#onvif-find").click()
    panel.locator("#onvif-found li", has_text="Vigil Sim").locator("button").click()
    assert panel.locator("input[name=url]").input_value() == camera.url
    panel.locator("input[name=name]").fill("gate")
    panel.locator("input[name=username]").fill(USER)
    panel.locator("input[name=password]").fill("wrong")
    panel.locator("#onvif-read").click()
    page.wait_for_function(
        "document.querySelector('#onvif-add .msg').textContent.includes('refused')"
    )
    panel.locator("input[name=password]").fill(PASSWORD)
    panel.locator("#onvif-read").click()
    page.wait_for_selector("#onvif-profiles:not([hidden])")
    assert panel.locator("select[name=main]").input_value() == "main"
    assert panel.locator("select[name=sub]").input_value() == "sub"
    panel.locator("button[type=submit]").click()
    page.wait_for_function(
        "document.querySelector('#onvif-add .msg').textContent.includes('added gate')"
    )
    gate = load_config(site).cameras[1]
    assert gate.name == "gate" and gate.sub_url and gate.sub_url.endswith("/cam/sub")

    page.goto(web.url + "/cameras/yard", wait_until="domcontentloaded")
    page.wait_for_selector("#ptz:not([hidden])")
    assert page.locator("#ptz select[name=preset] option").all_inner_texts() == ["Gate", "Car park"]
    right = page.locator("#ptz [data-move='1,0,0']")
    right.hover()
    page.mouse.down()
    page.wait_for_function("document.querySelector('#ptz .msg').textContent === 'moving…'")
    page.mouse.up()
    page.wait_for_function("document.querySelector('#ptz .msg').textContent === 'stopped'")
    page.locator("#ptz select[name=preset]").select_option("2")
    page.locator("#ptz-goto").click()
    page.wait_for_function("document.querySelector('#ptz .msg').textContent.includes('Car park')")
    assert [name for name, _ in camera.ptz_calls] == ["ContinuousMove", "Stop", "GotoPreset"]
    assert camera.ptz_calls[0][1]["pan"] == "0.500"
