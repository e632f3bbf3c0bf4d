"""`vigil eval ...`: measure face matching (and calibrate it) and person analysis on your own
labelled data."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.state import console, print_json, progress_bar, state
from vigil.store.enums import DetectorChoice

# The face engine and the evaluation (NumPy, OpenCV, Matplotlib) load in the commands.

app = typer.Typer(
    help="Measure face matching and person analysis; calibrate face matching.",
    no_args_is_help=True,
)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2%}"


@app.command()
def pairs(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV with columns img1,img2,same[,group]."),
    roc: Path = typer.Option(Path("roc.png"), "--roc", help="Where to write the ROC plot (PNG)."),
    save: bool = typer.Option(
        False, "--save", help="Adopt the best threshold and the fitted confidence curve."
    ),
    with_verified: bool = typer.Option(
        False,
        "--with-verified",
        help="Also fit on the matches people confirmed or rejected at this site.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Verification accuracy, best threshold, ROC AUC, TAR at FAR, and per-group gaps."""
    import numpy as np

    from vigil.faces.calibration import Calibration, best_threshold, fit_input, save_calibration
    from vigil.faces.evaluation import (
        evaluate_pairs,
        import_plotting_meanwhile,
        measured_at,
        plot_roc,
        read_pairs,
    )
    from vigil.faces.measured import save_measured

    import_plotting_meanwhile()
    st = state(ctx)
    engine, cal = st.face_engine, st.calibration()
    rows = read_pairs(file)
    with progress_bar() as bar:
        task = bar.add_task("embedding images", total=None)
        report = evaluate_pairs(
            engine, rows, cal, lambda d, n: bar.update(task, completed=d, total=n)
        )
    plot_roc(report, roc)
    saved = None
    verified = None
    if with_verified:  # the store's import (SQLAlchemy, Alembic) only when it is read
        from vigil.faces.verified_pairs import verified_scores

        verified = verified_scores(st.db(), engine.model_name)
    if save:
        scores, same = fit_input(report.scores, report.labels, verified)
        threshold = best_threshold(scores, same)[0] if verified is not None else None
        # verified pairs carry no face size: they count for the size-free figures only
        sizes = np.concatenate([report.sizes, np.full(len(scores) - len(report.sizes), np.nan)])
        fitted = Calibration.fit(
            engine.model_name,
            scores,
            same,
            report.best_threshold if threshold is None else threshold,
            f"{file} + {len(verified[0])} verified pairs" if verified is not None else str(file),
            sizes,
        )
        saved = save_calibration(st.data_dir, fitted)
        save_measured(st.data_dir, measured_at(report, fitted, str(file)))
    if as_json:
        hidden = ("scores", "labels", "group_of", "sizes")
        data = {k: v for k, v in asdict(report).items() if k not in hidden}
        extra = {"verified_pairs": len(verified[0])} if verified is not None else {}
        print_json({**data, **extra, "roc_plot": str(roc), "calibration_saved": saved})
        return
    console.print(
        f"{report.pairs} pairs ({report.positives} same, {report.negatives} different)"
        + (f", {report.skipped_pairs} skipped" if report.skipped_pairs else "")
    )
    for path, why in report.failed_images.items():
        console.print(f"[yellow]no face used from[/] {path}: {why}", highlight=False)
    t = Table("measure", "value")
    at = f"threshold {report.threshold:.3f}" if not cal.bands else "each face size's threshold"
    t.add_row(f"accuracy at {at} ({cal.source})", _pct(report.accuracy))
    t.add_row(f"best threshold {report.best_threshold:.3f}", _pct(report.best_accuracy))
    t.add_row("ROC AUC", "n/a" if report.roc_auc is None else f"{report.roc_auc:.4f}")
    for far, tar in report.tar_at_far.items():
        t.add_row(
            f"TAR at FAR {far}", _pct(tar) if tar is not None else "n/a (too few impostor pairs)"
        )
    console.print(t)
    if len(report.bands) > 1:
        b = Table("face size", "pairs", "threshold", "accuracy", "best threshold", "best accuracy")
        for name, band in report.bands.items():
            best = band.best_threshold
            b.add_row(
                name,
                str(band.rates.pairs),
                f"{band.threshold:.3f}",
                _pct(band.rates.accuracy),
                "n/a" if best is None else f"{best:.3f}",
                _pct(band.best_accuracy),
            )
        console.print(b)
    if report.groups:
        g = Table("group", "pairs", "accuracy", "false match rate", "false non-match rate")
        for name, s in report.groups.items():
            g.add_row(
                name,
                str(s.pairs),
                _pct(s.accuracy),
                _pct(s.false_match_rate),
                _pct(s.false_non_match_rate),
            )
        console.print(g)
        for metric, gap in report.widest_gap.items():
            console.print(f"widest gap between groups in {metric.replace('_', ' ')}: {gap:.2%}")
    console.print(f"ROC plot: {roc}")
    if verified is not None:
        console.print(f"{len(verified[0])} verified pairs from confirmed or rejected matches")
    if saved:
        console.print(f"calibration saved to {saved}: threshold {fitted.threshold:.3f}")
        for fit in fitted.bands:
            console.print(f"  faces {fit.name}: threshold {fit.threshold:.3f} ({fit.source})")


@app.command()
def gallery(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="Folder of NAME/*.jpg (one sub-folder a person)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Leave-one-out identification: rank-1 accuracy and the open-set false-accept rate."""
    from vigil.faces.evaluation import evaluate_gallery

    st = state(ctx)
    with progress_bar() as bar:
        task = bar.add_task("embedding images", total=None)
        report = evaluate_gallery(
            st.face_engine,
            folder,
            st.calibration().threshold,
            lambda d, n: bar.update(task, completed=d, total=n),
        )
    if as_json:
        print_json(asdict(report))
        return
    console.print(f"{report.identities} people, {report.images} images")
    for path, why in report.failed_images.items():
        console.print(f"[yellow]no face used from[/] {path}: {why}", highlight=False)
    t = Table("measure", "value")
    t.add_row(f"rank-1 accuracy ({report.closed_set_probes} probes)", _pct(report.rank1_accuracy))
    t.add_row(
        f"identified above threshold {report.threshold:.3f}", _pct(report.identification_rate)
    )
    t.add_row(
        f"open-set false accepts ({report.open_set_probes} strangers)",
        _pct(report.false_accept_rate),
    )
    console.print(t)
    for m in report.mistakes:
        console.print(f"  [yellow]{m}[/]", highlight=False)


@app.command("make-pairs")
def make_pairs_cmd(
    folder: Path = typer.Argument(..., help="Folder of NAME/*.jpg."),
    out: Path = typer.Option(Path("pairs.csv"), "-o", "--out", help="CSV to write."),
    negatives: float = typer.Option(1.0, help="Different-person pairs per same-person pair."),
) -> None:
    """Write a pairs CSV from a labelled folder: every same-person pair plus sampled others."""
    from vigil.faces.evaluation import make_pairs, write_pairs

    rows = make_pairs(folder, negatives)
    write_pairs(rows, out)
    console.print(f"wrote {len(rows)} pairs to {out}")


@app.command("cctv-pairs")
def cctv_pairs_cmd(
    out: Path = typer.Argument(..., help="Folder to write the frames and pairs.csv into."),
    faces_dir: Path | None = typer.Option(
        None, "--faces", help="Folder of test photos (default: the test data cache)."
    ),
    frames: int = typer.Option(2, min=1, help="Degraded frames a photo a face width."),
) -> None:
    """Write labelled pairs at CCTV resolution from the test photos: faces 48 and 32 px wide,
    blurred, JPEG quality 35, in 640x360 frames (`vigil eval pairs OUT/pairs.csv`)."""
    from vigil.demo import cctv, testdata
    from vigil.errors import InputError
    from vigil.faces.evaluation import read_pairs

    if faces_dir is None:
        try:
            faces_dir = testdata.ensure() / "faces"
        except testdata.TestDataUnavailable as exc:
            raise InputError(str(exc), hint="pass --faces DIR") from exc
    if not (faces_dir / "obama.jpg").is_file():
        raise InputError(f"{faces_dir}: not the test photos", hint="pass --faces DIR")
    path = cctv.write(faces_dir, out, per_photo=frames)
    console.print(f"wrote {len(read_pairs(path))} pairs to {path}")


@app.command()
def video(
    ctx: typer.Context,
    clip: Path = typer.Argument(..., help="A video file (any format FFmpeg reads)."),
    truth_file: Path = typer.Option(
        ..., "--truth", help="What really happened in the clip (JSON, docs/eval-truth.md)."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write a PNG: precision/recall per box height, counts."
    ),
    fps: float = typer.Option(5.0, min=0.1, max=30, help="Frames a second analysed."),
    max_width: int = typer.Option(
        640, min=64, help="Frames are analysed at most this wide (as `vigil analyze`)."
    ),
    min_iou: float = typer.Option(
        0.5, min=0.05, max=1.0, help="Overlap (IoU) a detection needs to count as a hit."
    ),
    camera: str | None = typer.Option(
        None, "--camera", help="Use this camera's zones and privacy masks from vigil.yaml."
    ),
    detector: DetectorChoice | None = typer.Option(
        None,
        "--detector",
        help="What finds people and vehicles (default: the camera's, else auto: NanoDet when "
        "built, else HOG).",
    ),
    person_model: Path | None = typer.Option(
        None, "--person-model", help="Your own YOLO-style ONNX detector (overrides --detector)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Person detection, tracking, counts, line crossings and zone spans against the truth.

    Runs the analysis `vigil analyze` runs (recognition off: nobody is identified)."""
    from vigil.camera.motion import MotionDetector
    from vigil.config import AnalysisConfig
    from vigil.errors import InputError
    from vigil.faces.calibration import Calibration
    from vigil.faces.matcher import Matcher, NumpyIndex
    from vigil.pipeline.analyzer import CameraAnalyzer
    from vigil.pipeline.evaluation import plot_report, read_truth
    from vigil.pipeline.offline import evaluate_video
    from vigil.vision.person import detector_for

    st = state(ctx)
    truth = read_truth(truth_file)
    zones, masks = [], []
    cam = None
    if camera is not None:
        cam = next((c for c in st.config.cameras if c.name == camera), None)
        if cam is None:
            raise InputError(f"no camera {camera!r} in the configuration")
        zones, masks = cam.zones, cam.privacy_masks
    analysis = cam.analysis if cam is not None else AnalysisConfig()
    if detector is not None:
        analysis = analysis.model_copy(update={"detector": detector.value})
    engine = st.face_engine
    blind = Matcher(NumpyIndex(128), {}, {}, Calibration.default(engine.model_name))
    analyzer = CameraAnalyzer(
        camera or clip.stem,
        engine,
        blind,
        detector_for(analysis, person_model),
        MotionDetector(),
        masks,
        zones,
    )
    with progress_bar() as bar:
        # Progress in seconds of the clip, up to the last key frame (the truth's extent).
        end = max((k.frame for k in truth.frames), default=0) / truth.fps
        task = bar.add_task("analysing (s of clip)", total=round(end, 1) or None)
        report, analysed = evaluate_video(
            clip,
            truth,
            analyzer,
            fps,
            max_width,
            min_iou,
            lambda t: bar.update(task, completed=round(t, 1)),
        )
    if plot is not None:
        plot_report(report, plot)
    if as_json:
        print_json(
            {
                "video": str(clip),
                "frames": analysed,
                **report.to_dict(),
                "plot": plot and str(plot),
            }
        )
        return
    console.print(
        f"{analysed} frames analysed at {fps:g} fps; {report.key_frames_evaluated} of "
        f"{report.key_frames} key frames evaluated"
    )
    t = Table("box height px", "true", "found", "predicted", "correct", "precision", "recall")
    for b in report.bands:
        t.add_row(
            b.band,
            str(b.true_boxes),
            str(b.found),
            str(b.predicted_boxes),
            str(b.correct),
            _pct(b.precision),
            _pct(b.recall),
        )
    t.add_row("all", "", "", "", "", _pct(report.precision), _pct(report.recall))
    console.print(t)
    c = Table("measure", "value")
    c.add_row("walk-throughs (truth)", "not counted" if report.walks is None else str(report.walks))
    error = "" if report.count_error is None else f" (error {report.count_error:+d})"
    c.add_row("person events", f"{report.person_events}{error}")
    c.add_row(
        "events per walk-through",
        "n/a" if report.events_per_walk is None else f"{report.events_per_walk:.2f}",
    )
    c.add_row(
        "predicted tracks per true track",
        "n/a" if report.fragmentation is None else f"{report.fragmentation:.2f}",
    )
    c.add_row("identity switches", str(report.identity_switches))
    c.add_row("tracks over several people", str(report.merges))
    c.add_row("two boxes on one person (key frames)", str(report.duplicates))
    for lc in report.lines:
        c.add_row(f"line {lc.line} {lc.direction}", f"{lc.predicted} (truth {lc.true})")
    for z in report.zones:
        err = (
            "n/a"
            if z.max_edge_error_s is None
            else f"mean start {z.mean_start_error_s:.1f} s, end {z.mean_end_error_s:.1f} s, "
            f"max {z.max_edge_error_s:.1f} s"
        )
        c.add_row(f"zone {z.zone} {z.state}", f"{z.matched_spans}/{z.true_spans} spans; {err}")
    console.print(c)
    if plot is not None:
        console.print(f"plot: {plot}")
