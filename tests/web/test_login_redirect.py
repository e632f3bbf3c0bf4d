"""After logging in, `next` leads only to a page of this site, in real Chromium (which reads a
backslash as a slash and drops tabs: `/\\host` and `/<TAB>/host` are other sites to it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import PASSWORD
from tests.web.conftest import serve
from vigil.api import ApiContext, accounts, create_app
from vigil.config import VigilConfig
from vigil.store.db import Database
from vigil.store.models.users import Role
from vigil.web.pages import safe_next

pytestmark = pytest.mark.timeout(180)

OFF_SITE = [
    "/%5Cevil.example/x",  # /\evil.example/x
    "/%09/evil.example/x",  # /<TAB>/evil.example/x
    "/%5C%5Cevil.example/x",
    "%5C%5Cevil.example/x",
    "//evil.example/x",
    "/%0A/evil.example/x",
    "https://evil.example/x",
    "https:evil.example/x",
    "javascript:alert(1)",
]


@pytest.fixture(scope="module")
def light_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ApiContext]]:
    root = tmp_path_factory.mktemp("redirect")
    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(root / "var")}})
    ctx = ApiContext(cfg, Database(cfg.storage.resolved_database_url()))
    accounts.create_user(ctx.db, "admin", PASSWORD, Role.admin, created_by="test")
    with serve(create_app(ctx)) as url:
        yield url, ctx
    ctx.db.close()


def _log_in_with_next(browser, url: str, raw_next: str) -> str:  # type: ignore[no-untyped-def]
    """Log in at /login?next=<raw_next> (as typed in a link) and return where the page lands."""
    context = browser.new_context()
    # Should the browser leave the site, it finds a page there instead of a DNS error.
    context.route(
        re.compile(r"^https?://evil\.example/.*"),
        lambda route: route.fulfill(body="<h1>evil</h1>", content_type="text/html"),
    )
    p = context.new_page()
    p.set_default_timeout(15000)
    try:
        p.goto(f"{url}/login?next={raw_next}", wait_until="domcontentloaded")
        p.fill("input[name=username]", "admin")
        p.fill("input[name=password]", PASSWORD)
        p.click("button[type=submit]")
        p.wait_for_url(lambda u: "/login" not in u)
        p.wait_for_load_state("domcontentloaded")
        return p.url
    finally:
        context.close()


@pytest.mark.parametrize("raw_next", OFF_SITE)
def test_login_never_leaves_the_site(light_site, browser, raw_next: str) -> None:  # type: ignore[no-untyped-def]
    url, _ = light_site
    landed = _log_in_with_next(browser, url, raw_next)
    assert landed == url + "/", landed


def test_login_follows_a_path_on_the_site(light_site, browser) -> None:  # type: ignore[no-untyped-def]
    url, _ = light_site
    landed = _log_in_with_next(browser, url, quote("/users?x=1#top", safe=""))
    assert landed == url + "/users?x=1#top"


def test_the_page_renders_only_a_safe_next(light_site) -> None:  # type: ignore[no-untyped-def]
    _, ctx = light_site
    with TestClient(create_app(ctx)) as c:
        page = c.get("/login", params={"next": "/\\evil.example/x"})
        assert 'data-next="/"' in page.text
        page = c.get("/login", params={"next": '/events?camera=a&b="1"'})
        assert 'data-next="/events?camera=a&amp;b=&#34;1&#34;"' in page.text


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        (None, "/"),
        ("", "/"),
        ("/events", "/events"),
        ("/cameras/lobby?t=1#x", "/cameras/lobby?t=1#x"),
        ("/\\evil.example/x", "/"),
        ("/\t/evil.example/x", "/"),
        ("/\n/evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        (" //evil.example", "/"),
        ("https://evil.example/", "/"),
        ("http:/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("events", "/"),
        ("/a\u2028b", "/"),
    ],
)
def test_safe_next(raw: str | None, safe: str) -> None:
    assert safe_next(raw) == safe
