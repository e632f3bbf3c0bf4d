"""Vector indexes agree with each other, and open-set decisions follow the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.faces.calibration import Calibration
from vigil.faces.matcher import FaissIndex, Matcher, NumpyIndex
from vigil.vision.embedder import normalise


def clustered(n_people: int, per_person: int, dim: int = 128, seed: int = 0):
    """Templates clustered around one centre per person, like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = normalise(rng.normal(size=(n_people, dim)))
    owners = np.repeat(np.arange(n_people), per_person)
    vectors = normalise(centres[owners] + 0.08 * rng.normal(size=(len(owners), dim)))
    return centres, owners, vectors


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_faiss_agrees_with_numpy(kind: str) -> None:
    centres, _owners, vectors = clustered(2000, 3)
    ids = np.arange(len(vectors)) + 1000
    exact, other = NumpyIndex(128), FaissIndex(128, kind)
    exact.add(ids, vectors)
    other.add(ids, vectors)
    queries = normalise(centres[:200] + 0.08 * np.random.default_rng(1).normal(size=(200, 128)))
    s1, i1 = exact.search(queries, 5)
    s2, i2 = other.search(queries, 5)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(i1, i2, strict=True)])
    assert recall >= (1.0 if kind == "flat" else 0.95)
    assert np.allclose(s1[:, 0], s2[:, 0], atol=1e-4)
    assert np.all(np.diff(s1, axis=1) <= 1e-6), "scores must come best first"


def test_remove_and_short_galleries() -> None:
    idx = NumpyIndex(4)
    idx.add(np.array([1, 2]), normalise(np.eye(4)[:2]))
    scores, ids = idx.search(np.eye(4)[:1], 5)
    assert ids[0].tolist() == [1, 2, -1, -1, -1] and np.isinf(scores[0, 2])
    idx.remove(np.array([1]))
    assert len(idx) == 1 and idx.search(np.eye(4)[:1], 1)[1][0, 0] == 2
    flat = FaissIndex(4)
    flat.add(np.array([1, 2]), normalise(np.eye(4)[:2]))
    flat.remove(np.array([2]))
    assert len(flat) == 1


def test_open_set_identification() -> None:
    centres, owners, vectors = clustered(50, 2)
    idx = NumpyIndex(128)
    idx.add(np.arange(len(vectors)), vectors)
    names = {i: f"person{i}" for i in range(50)}
    matcher = Matcher(idx, dict(enumerate(owners.tolist())), names, Calibration.default("m", 0.5))
    stranger = normalise(np.random.default_rng(7).normal(size=(1, 128)))
    known, unknown = matcher.identify(np.vstack([centres[7], stranger[0]]))
    assert known.name == "person7" and known.score > 0.6 and known.confidence > 0.9
    assert known.runner_up is not None and known.runner_up < known.score
    assert not unknown.known and unknown.name is None and unknown.confidence < 0.05
    assert matcher.identify(np.zeros((0, 128))) == [] == matcher.identify([])


def test_calibration_fit_is_monotonic() -> None:
    rng = np.random.default_rng(3)
    same = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    scores = np.where(same, rng.normal(0.6, 0.1, 400), rng.normal(0.1, 0.1, 400))
    cal = Calibration.fit("m", scores, same, 0.35, "test")
    assert cal.slope > 0
    assert cal.confidence(0.1) < 0.05 < 0.95 < cal.confidence(0.6)
    assert abs(cal.confidence(0.35) - 0.5) < 0.2
