"""The face engine on real photos: detection, alignment, embedding backends, quality."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config import FacesConfig
from vigil.demo import cctv
from vigil.errors import InputError, VigilError
from vigil.faces.engine import FaceEngine
from vigil.vision.align import align_face
from vigil.vision.embedder import OnnxRuntimeEmbedder, OpenCVEmbedder, prepared_path
from vigil.vision.image import load_image
from vigil.vision.models import SFACE, SFACE_COSINE_THRESHOLD


def vector(engine: FaceEngine, path: Path) -> np.ndarray:
    obs = engine.single_face(load_image(path), str(path))
    assert obs.embedding is not None
    return obs.embedding


def test_obamas_match_each_other_and_not_biden(engine: FaceEngine, faces_dir: Path) -> None:
    obamas = [vector(engine, faces_dir / f) for f in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    biden = vector(engine, faces_dir / "biden.jpg")
    for i in range(3):
        for j in range(i + 1, 3):
            assert obamas[i] @ obamas[j] > SFACE_COSINE_THRESHOLD + 0.2
        assert obamas[i] @ biden < SFACE_COSINE_THRESHOLD - 0.05


def test_two_people_and_counts(engine: FaceEngine, faces_dir: Path) -> None:
    assert len(engine.detect(load_image(faces_dir / "two_people.jpg"))) == 2
    with pytest.raises(InputError, match="2 faces of similar size"):
        engine.single_face(load_image(faces_dir / "two_people.jpg"), "two_people.jpg")


def test_no_face(engine: FaceEngine) -> None:
    blank = np.full((480, 640, 3), 127, np.uint8)
    assert engine.analyze(blank) == []
    with pytest.raises(InputError, match="no face found"):
        engine.single_face(blank, "blank")


@pytest.mark.parametrize("width", [None, 32])
def test_alignment_matches_opencv_reference(
    engine: FaceEngine, faces_dir: Path, width: int | None
) -> None:
    """The least-squares warp gives OpenCV's `alignCrop` crops, on a portrait and on a 32 px
    face of a degraded sub-stream frame (decision 0073)."""
    img = load_image(faces_dir / "obama.jpg")
    if width is not None:
        img = cctv.degrade(cctv.sources(faces_dir)[0], width, seed=3)
    face = engine.detect(img)[0]
    ref = cv2.FaceRecognizerSF.create(str(SFACE.path()), "")
    row = np.array([*face.box, *face.landmarks.ravel(), face.score], np.float32)
    expected = ref.alignCrop(img, row)
    assert np.abs(align_face(img, face.landmarks).astype(int) - expected).mean() < 0.01


def test_backends_agree_and_batches_equal_single_calls(engine: FaceEngine, faces_dir: Path) -> None:
    img = load_image(faces_dir / "probes" / "obama_and_biden.jpg")
    crops = [o.crop for o in engine.analyze(img, embed=False)]
    assert len(crops) == 3
    ort_batch = OnnxRuntimeEmbedder(threads=2).embed(crops)
    ort_single = np.stack([OnnxRuntimeEmbedder(threads=1).embed([c])[0] for c in crops])
    cv_vectors = OpenCVEmbedder(threads=2).embed(crops)
    assert np.allclose(np.sum(ort_batch * ort_single, axis=1), 1, atol=1e-4)
    assert np.allclose(np.sum(ort_batch * cv_vectors, axis=1), 1, atol=1e-3)
    assert np.allclose(np.linalg.norm(ort_batch, axis=1), 1, atol=1e-5)


def test_operator_supplied_onnx_model(tmp_path: Path, faces_dir: Path) -> None:
    """The seam takes any float ONNX embedder: here a tiny model built on the spot."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(size=(3 * 16, 8)).astype(np.float32), "W")
    graph = helper.make_graph(
        [
            helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[28, 28], strides=[28, 28]),
            helper.make_node("AveragePool", ["p"], ["q"], kernel_shape=[1, 1]),
            helper.make_node("Flatten", ["q"], ["f"]),
            helper.make_node("MatMul", ["f", "W"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [weights],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    engine = FaceEngine(FacesConfig(embedder_model=path))
    obs = engine.analyze(load_image(faces_dir / "two_people.jpg"))
    assert engine.model_name == "onnx:tiny"
    assert [o.embedding.shape for o in obs] == [(8,), (8,)]
    assert not np.allclose(obs[0].embedding, obs[1].embedding)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(VigilError, match="cannot read ONNX model"):
        OnnxRuntimeEmbedder(bad)


def test_quality_gate(engine: FaceEngine, faces_dir: Path) -> None:
    good = engine.single_face(load_image(faces_dir / "obama.jpg"), "obama")
    assert good.quality.ok and good.quality.score > 0.8
    small = engine.analyze(load_image(faces_dir / "messi5.jpg"), embed=False)[0]
    assert not small.quality.ok
    assert any("closer or larger" in p for p in small.quality.problems)
    img = load_image(faces_dir / "obama.jpg")
    blurred = engine.analyze(cv2.GaussianBlur(img, (0, 0), 6), embed=False)[0]
    assert any("blurred" in p for p in blurred.quality.problems)
    turned = engine.analyze(load_image(faces_dir / "cameraman.png"), embed=False)
    assert any(any("turned" in p for p in o.quality.problems) for o in turned)


def test_embedder_keeps_a_prepared_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: FaceEngine, faces_dir: Path
) -> None:
    """The first load keeps onnxruntime's prepared model; later loads use it without the
    ONNX repair, with the same vectors; a torn copy is prepared again; with nowhere to keep
    it, the model is prepared in memory."""
    from vigil.vision import embedder as embedder_module

    crops = [o.crop for o in engine.analyze(load_image(faces_dir / "two_people.jpg"), embed=False)]
    monkeypatch.setenv("VIGIL_MODELS", str(tmp_path / "models"))
    first = OnnxRuntimeEmbedder(threads=1).embed(crops)
    copy = prepared_path(SFACE.path(), fold_int8=True)
    assert copy.parent == tmp_path / "models" / "prepared"
    assert copy.stat().st_size > 1_000_000
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no temporary file left

    repair = embedder_module.onnx_for_runtime

    def no_repair(path: Path) -> bytes:
        raise AssertionError("the prepared copy was not used")

    monkeypatch.setattr(embedder_module, "onnx_for_runtime", no_repair)
    assert np.allclose(OnnxRuntimeEmbedder(threads=1).embed(crops), first, atol=1e-6)

    monkeypatch.setattr(embedder_module, "onnx_for_runtime", repair)
    copy.write_bytes(b"torn by a power cut")
    left = [copy.with_name(f".{copy.name}.{pid}.1") for pid in (11, 12)]  # Ctrl-C'd first runs
    for tmp in left:
        tmp.write_bytes(b"half")
    os.utime(left[0], (time.time() - 3600,) * 2)  # long gone; left[1] may still be preparing
    assert np.allclose(OnnxRuntimeEmbedder(threads=1).embed(crops), first, atol=1e-6)
    assert copy.stat().st_size > 1_000_000
    assert sorted(p.name for p in copy.parent.iterdir()) == sorted([copy.name, left[1].name])

    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("VIGIL_MODELS", str(tmp_path / "not-a-folder"))
    assert np.allclose(OnnxRuntimeEmbedder(threads=1).embed(crops), first, atol=1e-6)


def test_embedder_loaded_meanwhile_reports_its_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    engine = FaceEngine(FacesConfig(embedder_model=bad))
    engine.load_embedder_meanwhile()
    with pytest.raises(VigilError, match="cannot read ONNX model"):
        engine.embed_crops([np.zeros((112, 112, 3), np.uint8)])
