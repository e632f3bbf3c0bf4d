"""Face embedding: the `Embedder` seam and its backends.

An embedder turns aligned 112x112 BGR crops into L2-normalised vectors, many at once.
Backends swap without touching callers:
- `OnnxRuntimeEmbedder` (default): the bundled SFace, or any float ONNX embedder an operator
  supplies (input N x 3 x 112 x 112 RGB 0..255, output N x D). True batches; the CUDA provider
  is used when onnxruntime has it.
- `OpenCVEmbedder`: the same model through OpenCV DNN, one face per call (OpenCV's DNN returns
  wrong vectors for all but the first item of a batch of this model).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from vigil.errors import VigilError
from vigil.vision.align import CROP_SIZE
from vigil.vision.models import SFACE, models_dir

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

STALE_S = 600  # a temporary prepared copy this old belongs to no running preparation


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """N aligned BGR crops -> N x dim float32, each row of unit length."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    v = np.nan_to_num(np.asarray(vectors, dtype=np.float64))  # float64: int8 nets can overflow
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


def to_blob(crops: list[np.ndarray]) -> np.ndarray:
    """BGR crops -> N x 3 x 112 x 112 float32 RGB, pixel values 0..255 (SFace's input)."""
    return cv2.dnn.blobFromImages(crops, 1.0, (CROP_SIZE, CROP_SIZE), (0, 0, 0), swapRB=True)


def onnx_for_runtime(path: Path) -> bytes:
    """The model's bytes, repaired for onnxruntime and given a variable batch size.

    The int8 SFace file lists its raw weights as graph inputs that no node reads; onnxruntime
    then demands them as inputs. Dropping unread inputs and freeing the batch dimension fixes it.
    """
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError...
        raise VigilError(f"cannot read ONNX model {path}: {exc}") from exc
    graph = model.graph
    read = {name for node in graph.node for name in node.input}
    initialised = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name in read and i.name not in initialised]
    del graph.input[:]
    graph.input.extend(inputs)
    for value in (*graph.input[:1], *graph.output[:1]):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "N"
    return model.SerializeToString()


class _ThreadedEmbedder:
    """Splits a batch over `threads` workers; subclasses embed one chunk in `_run`."""

    name: str
    dim: int
    threads: int
    chunk: int  # largest batch one worker call takes

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def _run(self, crops: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        per_worker = -(-len(crops) // self.threads)
        size = max(1, min(self.chunk, per_worker))
        chunks = [crops[i : i + size] for i in range(0, len(crops), size)]
        run: Callable[[list[np.ndarray]], np.ndarray] = self._run
        parts = (
            list(self._pool.map(run, chunks))
            if self._pool and len(chunks) > 1
            else [run(c) for c in chunks]
        )
        return normalise(np.concatenate(parts).reshape(len(crops), -1))


class OnnxRuntimeEmbedder(_ThreadedEmbedder):
    """An ONNX embedder on onnxruntime; one session, `threads` concurrent batch calls."""

    chunk = 4  # larger batches cost more CPU a face (cache); 4 keeps both threads busy (0074)

    def __init__(
        self, model: Path | None = None, threads: int = 2, *, fold_int8: bool = True
    ) -> None:
        import onnxruntime as ort

        super().__init__(threads)
        path = model or SFACE.path()
        if not path.is_file():
            raise VigilError(f"embedder model not found: {path}")
        providers = [
            p
            for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
            if p in ort.get_available_providers()
        ]
        try:
            self._session = _load_session(path, fold_int8, providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise VigilError(f"cannot load embedder model {path}: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise VigilError(
                f"{path}: expected one input of shape N x 3 x 112 x 112, got "
                + ", ".join(f"{i.name}{i.shape}" for i in inputs)
            )
        self._input = inputs[0].name
        out_dim = self._session.get_outputs()[0].shape[-1]
        self.dim = out_dim if isinstance(out_dim, int) else 0
        self.name = embedder_name(model)

    def _run(self, crops: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self._session.run(None, {self._input: to_blob(crops)})[0])


def _session_options(fold_int8: bool) -> ort.SessionOptions:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # parallelism comes from concurrent calls on the pool
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if fold_int8:
        # Fold the int8 weights' DequantizeLinear nodes into float constants once, at load,
        # not on every call (and BatchNorm into the convolutions after them): ~18% less CPU
        # a face, the same vectors to 3e-7 (decision 0074).
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    return opts


def prepared_path(path: Path, fold_int8: bool) -> Path:
    """Where this machine keeps onnxruntime's prepared copy of the model at `path`: named by
    the file (path, size, time), onnxruntime's version and the folding, so any change of
    those prepares a new one."""
    import onnxruntime as ort

    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{ort.__version__}|{fold_int8}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return models_dir() / "prepared" / f"{path.stem}-{digest}.onnx"


def _load_session(path: Path, fold_int8: bool, providers: list[str]) -> ort.InferenceSession:
    """The model's session, from its prepared copy: repaired, int8 weights folded and basic
    optimisations done, saved by onnxruntime on the first load. Loading that copy skips the
    ONNX import, the repair and the folding: ~0.2 s of CPU at every later start (0077).
    Without a writable models folder, the model is prepared in memory every time."""
    import onnxruntime as ort

    prepared = prepared_path(path, fold_int8)
    if prepared.is_file():
        try:
            return ort.InferenceSession(
                str(prepared), _session_options(fold_int8), providers=providers
            )
        except Exception as exc:  # a torn or foreign file: prepared again below
            log.warning("prepared model %s unusable (%s); preparing it again", prepared, exc)
    model = onnx_for_runtime(path)
    try:
        _prepare(model, prepared, fold_int8)
    except Exception as exc:  # an unwritable cache: slower starts, nothing else
        log.debug("cannot keep a prepared copy of %s: %s", path, exc)
        return ort.InferenceSession(model, _session_options(fold_int8), providers=providers)
    return ort.InferenceSession(str(prepared), _session_options(fold_int8), providers=providers)


def _prepare(model: bytes, prepared: Path, fold_int8: bool) -> None:
    """Have onnxruntime save the model after its basic, hardware-independent optimisations
    (the layout changes of the higher levels are made again at each load), atomically; then
    remove the copies prepared before (another model file or onnxruntime version) and
    temporary ones a stopped process left behind."""
    import onnxruntime as ort

    prepared.parent.mkdir(parents=True, exist_ok=True)
    tmp = prepared.with_name(f".{prepared.name}.{os.getpid()}.{threading.get_ident()}")
    opts = _session_options(fold_int8)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(tmp)
    try:
        ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        os.replace(tmp, prepared)
    finally:
        tmp.unlink(missing_ok=True)
    stem = re.escape(prepared.name.rsplit("-", 1)[0])
    for old in prepared.parent.iterdir():
        with contextlib.suppress(OSError):  # another process may be tidying up too
            if old != prepared and (
                re.fullmatch(rf"{stem}-[0-9a-f]{{16}}\.onnx", old.name)
                or (  # left by a process that ended while preparing (Ctrl-C on a first run)
                    re.fullmatch(rf"\.{stem}-[0-9a-f]{{16}}\.onnx\.\d+\.\d+", old.name)
                    and time.time() - old.stat().st_mtime > STALE_S
                )
            ):
                old.unlink()


class OpenCVEmbedder(_ThreadedEmbedder):
    """SFace on OpenCV DNN, one net per worker thread, one face per forward pass."""

    dim = 128
    chunk = 1

    def __init__(self, model: Path | None = None, threads: int = 2) -> None:
        super().__init__(threads)
        self.name = embedder_name(model)
        self._model = str(model or SFACE.path())
        self._local = threading.local()

    def _run(self, crops: list[np.ndarray]) -> np.ndarray:
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = cv2.dnn.readNet(self._model)
        net.setInput(to_blob(crops))
        return np.asarray(net.forward(), dtype=np.float32)


def embedder_name(model: Path | None) -> str:
    """The name templates and calibrations of this model are kept under."""
    return SFACE.name if model is None else f"onnx:{Path(model).stem}"


def make_embedder(backend: str, model: Path | None, threads: int) -> Embedder:
    if backend == "onnxruntime":
        return OnnxRuntimeEmbedder(model, threads)
    if backend == "opencv":
        return OpenCVEmbedder(model, threads)
    raise VigilError(f"unknown embedder backend {backend!r}", hint="use onnxruntime or opencv")
