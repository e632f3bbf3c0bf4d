"""`vigil eval ...`: measure face matching on your own labelled data, and calibrate it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.state import console, print_json, progress_bar, state

# The face engine and the evaluation (NumPy, OpenCV, Matplotlib) load in the commands.

app = typer.Typer(help="Measure and calibrate face matching.", no_args_is_help=True)


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
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Verification accuracy, best threshold, ROC AUC, TAR at FAR, and per-group gaps."""
    from vigil.faces.calibration import Calibration, save_calibration
    from vigil.faces.evaluation import evaluate_pairs, plot_roc, read_pairs

    st = state(ctx)
    engine, cal = st.face_engine, st.calibration()
    rows = read_pairs(file)
    with progress_bar() as bar:
        task = bar.add_task("embedding images", total=None)
        report = evaluate_pairs(
            engine, rows, cal.threshold, lambda d, n: bar.update(task, completed=d, total=n)
        )
    plot_roc(report, roc)
    saved = None
    if save:
        fitted = Calibration.fit(
            engine.model_name, report.scores, report.labels, report.best_threshold, str(file)
        )
        saved = save_calibration(st.data_dir, fitted)
    if as_json:
        data = {
            k: v for k, v in asdict(report).items() if k not in ("scores", "labels", "group_of")
        }
        print_json({**data, "roc_plot": str(roc), "calibration_saved": saved})
        return
    console.print(
        f"{report.pairs} pairs ({report.positives} same, {report.negatives} different)"
        + (f", {report.skipped_pairs} skipped" if report.skipped_pairs else "")
    )
    for path, why in report.failed_images.items():
        console.print(f"[yellow]no face used from[/] {path}: {why}", highlight=False)
    t = Table("measure", "value")
    t.add_row(f"accuracy at threshold {report.threshold:.3f} ({cal.source})", _pct(report.accuracy))
    t.add_row(f"best threshold {report.best_threshold:.3f}", _pct(report.best_accuracy))
    t.add_row("ROC AUC", "n/a" if report.roc_auc is None else f"{report.roc_auc:.4f}")
    for far, tar in report.tar_at_far.items():
        t.add_row(
            f"TAR at FAR {far}", _pct(tar) if tar is not None else "n/a (too few impostor pairs)"
        )
    console.print(t)
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
    if saved:
        console.print(f"calibration saved to {saved}: threshold {report.best_threshold:.3f}")


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
