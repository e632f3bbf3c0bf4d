"""Hostile requests cost the server bounded memory and disk (issue 13, items 1 and 2).

The server runs as `vigil api` in its own process, so its memory is measured alone (psutil,
sampled every few ms while the hostile request runs). `VIGIL_LIMITS_PYTHONPATH` runs that
server from another checkout (the "before" figures in docs/decisions/0004-request-limits.md).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
import yaml
from PIL import Image

from tests.api.helpers import PASSWORD
from vigil.process import free_port

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
BOUNDARY = "vigil-test-boundary"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path

    def login(self, http: httpx.Client, user: str = "admin") -> dict[str, str]:
        body = {"username": user, "password": PASSWORD}
        r = http.post(f"{self.url}/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        return {"X-CSRF-Token": r.json()["csrf_token"]}


def start_server(root: Path, api: dict[str, object] | None = None) -> Server:
    data_dir = root / "var"
    data_dir.mkdir(parents=True)
    cfg = {"site": {"name": "limits"}, "storage": {"data_dir": str(data_dir)}}
    if api:
        cfg["api"] = api
    path = root / "vigil.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = dict(os.environ)
    if other := os.environ.get("VIGIL_LIMITS_PYTHONPATH"):
        env["PYTHONPATH"] = other
    # the admin is made by the server's own code (its migrations make the database)
    subprocess.run([sys.executable, "-c", ADD_ADMIN, str(data_dir)], env=env, check=True)
    port = free_port()
    vigil = str(Path(sys.executable).parent / "vigil")
    cmd = [vigil, "-c", str(path), "api", "--port", str(port), "--no-live"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "vigil api exited"
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return Server(url, proc, data_dir)
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("vigil api did not start")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server at its default limits."""
    s = start_server(tmp_path_factory.mktemp("limits"))
    yield s
    stop_server(s)


class Watch:
    """Samples the server's RSS and the bytes of its temporary files (upload spools) in a
    thread, from `start` until `stop`: their peaks, beside the RSS at the start."""

    def __init__(self, server: Server) -> None:
        self.proc = psutil.Process(server.proc.pid)
        self.tmp = str(server.data_dir / "tmp")
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.spooled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _spool_bytes(self) -> int:
        total = 0
        fds = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fds):
            try:
                target = os.readlink(f"{fds}/{fd}")
                if target.endswith(" (deleted)") or target.startswith(self.tmp):
                    st = os.stat(f"{fds}/{fd}")
                    if st.st_mode & 0o170000 == 0o100000:  # a regular file
                        total += st.st_size
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.spooled = max(self.spooled, self._spool_bytes())
            time.sleep(0.005)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # what the server does just after answering counts too
        self._stop.set()
        self._thread.join()

    @property
    def rise_mb(self) -> float:
        return (self.peak - self.base) / 1e6

    def report(self, what: str) -> str:
        line = (
            f"{what}: server RSS {self.base / 1e6:.0f} MB -> peak {self.peak / 1e6:.0f} MB "
            f"(+{self.rise_mb:.0f} MB), spooled {self.spooled / 1e6:.0f} MB"
        )
        print(line)
        return line


def json_body(total: int) -> Iterator[bytes]:
    """A login body of `total` bytes, streamed in 1 MiB pieces (chunked: no Content-Length)."""
    yield b'{"username": "admin", "password": "'
    chunk = b"a" * MiB
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)
    yield b'"}'


def multipart_body(total: int) -> Iterator[bytes]:
    """One photo field of `total` bytes, streamed in 1 MiB pieces."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photos"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    chunk = b"\0" * MiB
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


ADD_ADMIN = f"""
import sys
from vigil.api import accounts
from vigil.store.db import Database
from vigil.store.models.users import Role
db = Database(f"sqlite:///{{sys.argv[1]}}/vigil.db")
accounts.create_user(db, "admin", {PASSWORD!r}, Role.admin, created_by="test")
db.close()
"""
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_huge_login_body_is_refused_while_streaming(server: Server) -> None:
    with httpx.Client(timeout=120) as http, Watch(server) as w:
        r = http.post(
            f"{server.url}/api/v1/auth/login",
            content=json_body(300 * MiB),
            headers={"Content-Type": "application/json"},
        )
    line = w.report("300 MB streamed login body")
    assert r.status_code == 413, r.text
    assert "too large" in r.json()["detail"]
    assert w.rise_mb < 50, line


def test_declared_length_over_the_limit_is_refused_unread(server: Server) -> None:
    with httpx.Client(timeout=60) as http:
        r = http.post(
            f"{server.url}/api/v1/auth/login",
            content=b"{}" + b" " * (65 * 1024),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == "request body too large: at most 64 KiB here"
        # other JSON: 1 MiB
        h = server.login(http)
        r = http.post(
            f"{server.url}/api/v1/auth/tokens",
            content=json.dumps({"name": "x" * (70 * 1024)}),
            headers={**h, "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        r = http.post(
            f"{server.url}/api/v1/watchlists",
            content=b"[" + b" " * (2 * MiB) + b"]",
            headers={**h, "Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text
        assert "1 MiB" in r.json()["detail"]


def test_unauthenticated_upload_is_refused_before_it_is_read(server: Server) -> None:
    with httpx.Client(timeout=120) as http, Watch(server) as w:
        r = http.post(
            f"{server.url}/api/v1/people", content=multipart_body(500 * MiB), headers=MULTIPART
        )
    line = w.report("500 MB unauthenticated multipart upload")
    assert r.status_code == 401, r.text
    assert r.json()["detail"] == "not logged in"
    assert w.spooled == 0, line
    assert w.rise_mb < 50, line
    tmp = server.data_dir / "tmp"
    assert not tmp.exists() or sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) == 0


def test_upload_with_a_bad_token_or_no_csrf_is_refused_unread(server: Server) -> None:
    url = f"{server.url}/api/v1/people/check"
    with httpx.Client(timeout=60) as http, Watch(server) as w:
        bad = {**MULTIPART, "Authorization": "Bearer vgl_not-a-token"}
        r = http.post(url, content=multipart_body(20 * MiB), headers=bad)
        assert r.status_code == 401, r.text
        server.login(http)  # the session cookie, but no X-CSRF-Token header
        r = http.post(url, content=multipart_body(20 * MiB), headers=MULTIPART)
        assert r.status_code == 403, r.text
        assert "CSRF" in r.json()["detail"]
    line = w.report("20 MB uploads with a bad token, without CSRF")
    assert w.spooled == 0, line


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A 5 MiB upload cap and one photo analysis at a time (waiting 0.1 s for a turn)."""
    s = start_server(
        tmp_path_factory.mktemp("limits-small"),
        {"upload_max_mb": 5, "image_analyses_at_once": 1, "image_analysis_wait_s": 0.1},
    )
    yield s
    stop_server(s)


def test_authenticated_upload_over_the_cap_gets_413(small_server: Server, faces_dir: Path) -> None:
    url = f"{small_server.url}/api/v1/people/check"
    photo = (faces_dir / "obama.jpg").read_bytes()
    with httpx.Client(timeout=120) as http:
        h = small_server.login(http)
        with Watch(small_server) as w:  # streamed: counted while read
            r = http.post(url, content=multipart_body(50 * MiB), headers={**h, **MULTIPART})
        line = w.report("50 MB authenticated upload, 5 MiB cap")
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == "request body too large: at most 5 MiB here"
        assert w.spooled <= 5 * MiB, line
        # declared: refused before it is read
        big = ("big.jpg", b"\0" * (6 * MiB), "image/jpeg")
        r = http.post(url, files={"photos": big}, data={"reason": "check"}, headers=h)
        assert r.status_code == 413, r.text
        # under the cap it goes through, with a session or an API token
        ok = {"photos": ("obama.jpg", photo, "image/jpeg")}
        r = http.post(url, files=ok, data={"reason": "check"}, headers=h)
        assert r.status_code == 200, r.text
        token = http.post(
            f"{small_server.url}/api/v1/auth/tokens", json={"name": "t"}, headers=h
        ).json()["token"]
        r = httpx.post(
            url,
            files=ok,
            data={"reason": "check"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text


def bomb_png() -> bytes:
    """A 16-bit 7000x7000 PNG of zeros: ~100 KB of file, ~1 GB to decode naively."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((7000, 7000), np.uint16)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def test_decompression_bomb_is_refused_before_decoding(server: Server, faces_dir: Path) -> None:
    bomb = bomb_png()
    assert len(bomb) < 1_000_000
    url = f"{server.url}/api/v1/search/photo"
    with httpx.Client(timeout=120) as http:
        h = server.login(http)
        good = {"photo": ("obama.jpg", (faces_dir / "obama.jpg").read_bytes(), "image/jpeg")}
        r = http.post(url, files=good, data={"reason": "warm up"}, headers=h)  # models loaded
        assert r.status_code == 200, r.text
        with Watch(server) as w:
            r = http.post(
                url,
                files={"photo": ("bomb.png", bomb, "image/png")},
                data={"reason": "case 1"},
                headers=h,
            )
        line = w.report(f"{len(bomb) / 1e3:.0f} KB 16-bit 7000x7000 PNG to search/photo")
    assert r.status_code in (413, 422), r.text
    detail = r.json()["detail"]
    assert "bomb.png: image is 7000x7000 (49 MP, 16-bit)" in detail, detail
    assert "Vigil decodes at most" in detail
    assert w.rise_mb < 50, line


def test_photo_analyses_beyond_the_pool_get_503(small_server: Server, faces_dir: Path) -> None:
    url = f"{small_server.url}/api/v1/people/check"
    photo = ("obama.jpg", (faces_dir / "obama.jpg").read_bytes(), "image/jpeg")
    files = [("photos", photo)] * 8  # ~1 s of analysis per request
    with httpx.Client(timeout=120) as http:
        h = small_server.login(http)
        r = http.post(url, files=[("photos", photo)], data={"reason": "warm"}, headers=h)
        assert r.status_code == 200, r.text

        def one(_: int) -> httpx.Response:
            return http.post(url, files=files, data={"reason": "check"}, headers=h)

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(one, range(6)))
    codes = sorted(r.status_code for r in answers)
    print(f"6 parallel people/check, pool of 1: {codes}")
    assert codes.count(200) >= 1 and codes.count(503) >= 3, codes
    assert set(codes) <= {200, 503}, codes
    busy = next(r for r in answers if r.status_code == 503)
    assert int(busy.headers["Retry-After"]) >= 1
    assert "photo analyses are running" in busy.json()["detail"]
