"""Measuring the face engine on the operator's own labelled data.

`evaluate_pairs`: verification on a CSV of image pairs (img1,img2,same[,group]): accuracy at
the current threshold, the best threshold, ROC AUC, TAR at fixed FAR, and per-group error
rates with the widest gap between groups. `evaluate_gallery`: leave-one-out identification
on a folder of NAME/*.jpg. Neither touches the enrolled gallery.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vigil.errors import InputError
from vigil.faces.calibration import Calibration, best_threshold
from vigil.faces.engine import FaceEngine
from vigil.faces.measured import MeasuredAccuracy
from vigil.faces.measured import Rates as GroupStats
from vigil.vision.align import align_face
from vigil.vision.image import load_image

Progress = Callable[[int, int], None]  # (done, total)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
_TRUE, _FALSE = {"1", "true", "yes", "same", "y"}, {"0", "false", "no", "different", "n"}


@dataclass(frozen=True)
class Pair:
    img1: Path
    img2: Path
    same: bool
    group: str | None = None


def read_pairs(path: Path) -> list[Pair]:
    """Parse a pairs CSV; image paths are relative to the CSV's folder. Errors name the row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    reader = csv.DictReader(text.splitlines())
    cols = {c.strip().lower() for c in reader.fieldnames or []}
    if not {"img1", "img2", "same"} <= cols:
        raise InputError(
            f"{path}: needs columns img1,img2,same (optional: group); found {sorted(cols)}"
        )
    pairs = []
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        flag = row["same"].lower()
        if flag not in _TRUE | _FALSE:
            raise InputError(f"{path}:{n}: 'same' must be 1/0, true/false or yes/no, not {flag!r}")
        pairs.append(
            Pair(
                path.parent / row["img1"],
                path.parent / row["img2"],
                flag in _TRUE,
                row.get("group") or None,
            )
        )
    if not pairs:
        raise InputError(f"{path}: no pairs")
    return pairs


EMBED_BATCH = 32  # crops embedded in one call: the embedder splits it over its threads


@dataclass
class EmbeddedImages:
    vectors: dict[Path, np.ndarray]
    failures: dict[Path, str]  # why no face was used
    sizes: dict[Path, float]  # the face's shorter side, pixels


def _largest_face(engine: FaceEngine, path: Path) -> tuple[np.ndarray, float]:
    """The aligned crop and size of the image's largest face (decoding and detection release
    the interpreter lock: several run at once on a pool)."""
    image = load_image(path)
    faces = engine.detect(image)
    if not faces:
        raise InputError(f"{path}: no face found")
    return align_face(image, faces[0].landmarks), faces[0].short_side


def embed_images(
    engine: FaceEngine, paths: list[Path], progress: Progress | None = None
) -> EmbeddedImages:
    """The most prominent face of each image; failures (no face, bad file) with their reason.

    Images are decoded and searched on a pool of `faces.threads` workers while the crops found
    so far are embedded in batches: the run goes at the model's speed, not the files'."""
    engine.load_embedder_meanwhile()
    out = EmbeddedImages({}, {}, {})
    batch: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        if batch:
            vectors = engine.embed_crops([c for _, c in batch])
            out.vectors.update(zip((p for p, _ in batch), vectors, strict=True))
            batch.clear()

    workers = max(1, engine.config.threads)
    with ThreadPoolExecutor(workers) as pool:
        found = _in_order(pool, workers, engine, paths)
        for i, (path, result) in enumerate(found):
            if isinstance(result, InputError):
                out.failures[path] = str(result)
            else:
                batch.append((path, result[0]))
                out.sizes[path] = result[1]
                if len(batch) >= EMBED_BATCH:
                    flush()
            if progress:
                progress(i + 1, len(paths))
        flush()
    return out


def _in_order(
    pool: ThreadPoolExecutor, workers: int, engine: FaceEngine, paths: list[Path]
) -> Iterator[tuple[Path, tuple[np.ndarray, float] | InputError]]:
    """Each path with its face or the error, in order; at most a few images ahead in memory."""

    def one(path: Path) -> tuple[np.ndarray, float] | InputError:
        try:
            return _largest_face(engine, path)
        except InputError as exc:
            return exc

    ahead = EMBED_BATCH + 2 * workers  # the next batch is found while this one is embedded
    futures = [pool.submit(one, p) for p in paths[:ahead]]
    for i, path in enumerate(paths):
        if i + ahead < len(paths):
            futures.append(pool.submit(one, paths[i + ahead]))
        yield path, futures[i].result()


@dataclass
class PairsReport:
    pairs: int
    positives: int
    negatives: int
    failed_images: dict[str, str]
    skipped_pairs: int
    threshold: float  # for faces of unknown size; each pair is decided by its size band's
    accuracy: float
    best_threshold: float
    best_accuracy: float
    roc_auc: float | None
    tar_at_far: dict[str, float | None]  # "1e-2" -> TAR, None when too few impostor pairs
    groups: dict[str, GroupStats] = field(default_factory=dict)
    widest_gap: dict[str, float] = field(default_factory=dict)
    bands: dict[str, BandStats] = field(default_factory=dict)  # by the pair's smaller face
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    group_of: list[str | None] = field(default_factory=list, repr=False)
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


@dataclass(frozen=True)
class BandStats:
    """One size band's pairs: rates at the band's threshold, and the best it could do."""

    rates: GroupStats
    threshold: float
    best_threshold: float | None  # None: pairs of one kind only
    best_accuracy: float | None


def roc_points(same: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false accept rate, true accept rate) at every distinct threshold, from accepting
    nobody to everybody (what scikit-learn's roc_curve gives, without its 1.5 s import)."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], same[order].astype(np.int64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last pair at each threshold
    accepted_same = np.cumsum(y)[last]
    accepted_other = last + 1 - accepted_same
    return (
        np.r_[0.0, accepted_other / max(1, accepted_other[-1])],
        np.r_[0.0, accepted_same / max(1, accepted_same[-1])],
    )


def pair_thresholds(calibration: Calibration, sizes: np.ndarray) -> np.ndarray:
    """The threshold each pair is decided by: its smaller face's size band's."""
    return np.array([calibration.band(_size(s)).threshold for s in sizes], np.float64)


def _size(s: float) -> float | None:
    return None if math.isnan(s) else float(s)


def _band_rates(
    scores: np.ndarray, same: np.ndarray, sizes: np.ndarray, calibration: Calibration
) -> dict[str, BandStats]:
    bands = [calibration.band(_size(s)) for s in sizes]
    names = [b.name for b in bands]
    thresholds = pair_thresholds(calibration, sizes)
    out = {}
    for name, _ in sorted({b.name: b.min_px for b in bands}.items(), key=lambda kv: kv[1]):
        mask = np.array([m == name for m in names])
        s, y = scores[mask], same[mask]
        best = best_threshold(s, y) if y.any() and (~y).any() else (None, None)
        out[name] = BandStats(_rates(s, y, thresholds[mask]), float(thresholds[mask][0]), *best)
    return out


def _rates(scores: np.ndarray, same: np.ndarray, thr: float | np.ndarray) -> GroupStats:
    accept = scores >= thr
    neg, pos = ~same, same
    return GroupStats(
        len(scores),
        float(np.mean(accept == same)),
        float(np.mean(accept[neg])) if neg.any() else None,
        float(np.mean(~accept[pos])) if pos.any() else None,
    )


def evaluate_pairs(
    engine: FaceEngine,
    pairs: list[Pair],
    calibration: Calibration,
    progress: Progress | None = None,
) -> PairsReport:
    """Every pair decided as recognition would: by its smaller face's size band's threshold."""
    images = sorted({p for pair in pairs for p in (pair.img1, pair.img2)})
    found = embed_images(engine, images, progress)
    vectors, failures = found.vectors, found.failures
    usable = [p for p in pairs if p.img1 in vectors and p.img2 in vectors]
    if not usable:
        raise InputError("no pair has a face in both images", hint="check the image paths")
    scores = np.array([float(vectors[p.img1] @ vectors[p.img2]) for p in usable])
    same = np.array([p.same for p in usable])
    sizes = np.array([min(found.sizes[p.img1], found.sizes[p.img2]) for p in usable])
    thresholds = pair_thresholds(calibration, sizes)
    overall = _rates(scores, same, thresholds)
    best_t, best_acc = best_threshold(scores, same)
    auc, tar = None, {}
    both = same.any() and (~same).any()
    if both:
        fpr, tpr = roc_points(same, scores)
        auc = float(np.trapezoid(tpr, fpr))
    for far in (1e-2, 1e-3):
        key = f"{far:.0e}".replace("e-0", "e-")
        # A FAR of 1e-3 means nothing with fewer than 1,000 impostor pairs.
        tar[key] = float(tpr[fpr <= far].max()) if both and (~same).sum() >= 1 / far else None
    report = PairsReport(
        pairs=len(pairs),
        positives=int(same.sum()),
        negatives=int((~same).sum()),
        failed_images={str(k): v for k, v in failures.items()},
        skipped_pairs=len(pairs) - len(usable),
        threshold=calibration.threshold,
        accuracy=overall.accuracy,
        best_threshold=best_t,
        best_accuracy=best_acc,
        roc_auc=auc,
        tar_at_far=tar,
        scores=scores,
        labels=same,
        group_of=[p.group for p in usable],
        sizes=sizes,
    )
    report.groups, report.widest_gap = _group_rates(scores, same, report.group_of, thresholds)
    report.bands = _band_rates(scores, same, sizes, calibration)
    return report


def _group_rates(
    scores: np.ndarray, same: np.ndarray, group_of: list[str | None], thresholds: np.ndarray
) -> tuple[dict[str, GroupStats], dict[str, float]]:
    """Each group's rates at each pair's threshold, and the widest gap between groups per
    metric."""
    groups: dict[str, GroupStats] = {}
    for g in sorted({g for g in group_of if g}):
        mask = np.array([x == g for x in group_of])
        groups[g] = _rates(scores[mask], same[mask], thresholds[mask])
    gaps: dict[str, float] = {}
    for metric in ("accuracy", "false_match_rate", "false_non_match_rate"):
        vals = [getattr(s, metric) for s in groups.values()]
        vals = [v for v in vals if v is not None]
        if len(vals) > 1:
            gaps[metric] = float(max(vals) - min(vals))
    return groups, gaps


def measured_at(report: PairsReport, calibration: Calibration, source: str) -> MeasuredAccuracy:
    """The figures to save with a calibration adopted from `report` (overall, per group and
    per size band, recomputed at its thresholds), for the DPIA and the record of processing."""
    sizes = report.sizes
    if len(sizes) != len(report.scores):  # a report made without face sizes
        sizes = np.full(len(report.scores), np.nan)
    thresholds = pair_thresholds(calibration, sizes)
    groups, gaps = _group_rates(report.scores, report.labels, report.group_of, thresholds)
    bands = _band_rates(report.scores, report.labels, sizes, calibration)
    return MeasuredAccuracy(
        model=calibration.model,
        measured_at=calibration.created_at,
        source=source,
        threshold=calibration.threshold,
        overall=_rates(report.scores, report.labels, thresholds),
        roc_auc=report.roc_auc,
        groups=groups,
        widest_gap=gaps,
        bands={name: b.rates for name, b in bands.items()},
    )


def import_plotting_meanwhile() -> None:
    """Import Matplotlib on a thread while the caller works: its import is ~0.3 s of
    interpreter time that would otherwise come after the run, before `plot_roc` can draw."""

    def load() -> None:
        import matplotlib.backends.backend_agg
        import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, name="import-matplotlib", daemon=True).start()


def plot_roc(report: PairsReport, out: Path) -> Path:
    """ROC curve (TAR against FAR, log scale) with the operating threshold marked, per group."""
    # The Figure API, not pyplot: no GUI backend machinery for a PNG (pyplot's import alone
    # took ~0.3 s of the command), and fixed margins instead of tight_layout's text measuring.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=120)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.93)
    ax = fig.add_subplot()
    curves: list[tuple[str, np.ndarray]] = [("all pairs", np.ones(len(report.scores), bool))]
    for g in report.groups:
        curves.append((f"group {g}", np.array([x == g for x in report.group_of])))
    for label, mask in curves:
        s, y = report.scores[mask], report.labels[mask]
        if y.any() and (~y).any():
            fpr, tpr = roc_points(y, s)
            ax.plot(np.maximum(fpr, 1e-4), tpr, label=label, lw=2 if label == "all pairs" else 1)
    accept = report.scores >= report.threshold
    neg, pos = ~report.labels, report.labels
    op_far = max(float(accept[neg].mean()) if neg.any() else 0.0, 1e-4)
    op_tar = float(accept[pos].mean()) if pos.any() else 0.0
    ax.plot([op_far], [op_tar], "ko", label=f"threshold {report.threshold:.3f}")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    # Percentages rather than TeX powers of ten (read easier, and no mathtext parser to run);
    # no minor ticks (each is an artist to build and draw).
    ax.set_xticks([1e-4, 1e-3, 1e-2, 1e-1, 1], ["0.01%", "0.1%", "1%", "10%", "100%"])
    ax.minorticks_off()
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false accept rate (different people accepted)")
    ax.set_ylabel("true accept rate (same person accepted)")
    auc = f", AUC {report.roc_auc:.4f}" if report.roc_auc is not None else ""
    ax.set_title(f"Face verification ROC: {report.pairs} pairs{auc}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def gallery_folder(root: Path) -> dict[str, list[Path]]:
    if not root.is_dir():
        raise InputError(f"{root}: not a folder", hint="give a folder of NAME/*.jpg")
    people = {
        d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(root.iterdir())
        if d.is_dir()
    }
    people = {k: v for k, v in people.items() if v}
    if not people:
        raise InputError(f"{root}: no NAME/ sub-folders with images")
    return people


@dataclass
class GalleryReport:
    identities: int
    images: int
    failed_images: dict[str, str]
    threshold: float
    closed_set_probes: int  # probes whose identity has another image left in the gallery
    rank1_accuracy: float | None  # best match is the right person, whatever the score
    identification_rate: float | None  # right person AND above the threshold
    open_set_probes: int  # probes tested against a gallery without their identity
    false_accept_rate: float  # ... wrongly matched to someone above the threshold
    mistakes: list[str] = field(default_factory=list)


def evaluate_gallery(
    engine: FaceEngine, root: Path, threshold: float, progress: Progress | None = None
) -> GalleryReport:
    people = gallery_folder(root)
    owner = {p: name for name, files in people.items() for p in files}
    found = embed_images(engine, list(owner), progress)
    vectors, failures = found.vectors, found.failures
    paths = list(vectors)
    if len(paths) < 2:
        raise InputError(f"{root}: fewer than two usable images")
    matrix = np.stack([vectors[p] for p in paths])
    names = np.array([owner[p] for p in paths])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -np.inf)  # leave the probe itself out
    rank1 = ident = closed = opened = false_accepts = 0
    mistakes = []
    for i, p in enumerate(paths):
        mine = names == names[i]
        if mine.sum() > 1:  # closed set: another image of the same person remains
            closed += 1
            j = int(np.argmax(sims[i]))
            if names[j] == names[i]:
                rank1 += 1
                ident += int(sims[i, j] >= threshold)
            else:
                mistakes.append(f"{p.name}: {names[i]} ranked as {names[j]} ({sims[i, j]:.3f})")
        others = sims[i][~mine]
        if len(others):  # open set: the probe's whole identity removed from the gallery
            opened += 1
            j = int(np.argmax(others))
            if others[j] >= threshold:
                false_accepts += 1
                mistakes.append(
                    f"{p.name}: stranger {names[i]} accepted as {names[~mine][j]} ({others[j]:.3f})"
                )
    return GalleryReport(
        identities=len(people),
        images=len(owner),
        failed_images={str(k): v for k, v in failures.items()},
        threshold=threshold,
        closed_set_probes=closed,
        rank1_accuracy=rank1 / closed if closed else None,
        identification_rate=ident / closed if closed else None,
        open_set_probes=opened,
        false_accept_rate=false_accepts / opened if opened else 0.0,
        mistakes=mistakes,
    )


def make_pairs(root: Path, negatives_per_positive: float = 1.0, seed: int = 0) -> list[Pair]:
    """All same-person pairs of a NAME/*.jpg folder, plus sampled different-person pairs."""
    people = gallery_folder(root)
    positives = [
        Pair(a, b, True) for files in people.values() for a, b in itertools.combinations(files, 2)
    ]
    all_negatives = [
        Pair(a, b, False)
        for (_, fa), (_, fb) in itertools.combinations(people.items(), 2)
        for a in fa
        for b in fb
    ]
    rng = random.Random(seed)
    want = max(1, round(len(positives) * negatives_per_positive))
    negatives = rng.sample(all_negatives, min(want, len(all_negatives)))
    return positives + negatives


def write_pairs(pairs: list[Pair], out: Path) -> None:
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        grouped = any(p.group for p in pairs)
        w.writerow(["img1", "img2", "same", *(["group"] if grouped else [])])
        for p in pairs:
            row = [_rel(p.img1, out.parent), _rel(p.img2, out.parent), int(p.same)]
            w.writerow([*row, p.group or ""] if grouped else row)


def _rel(p: Path, base: Path) -> str:
    try:
        return str(p.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(p.resolve())
