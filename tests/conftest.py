"""Fixtures every test area shares: the shared test data and a throwaway data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.faces.engine import FaceEngine

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TESTDATA = SHARED / "testdata"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots, plots: kept after the run for people to look at


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture(scope="session")
def faces_dir(testdata: Path) -> Path:
    return testdata / "faces"


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    """The face engine with default settings (models load once per test run)."""
    return FaceEngine()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
