"""`vigil faces` and `vigil eval` as a person uses them: clear output, clear errors, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

from vigil.faces.measured import load_measured
from vigil.vision.models import SFACE


def test_detect_json_and_draw(cli, faces_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "drawn.png"
    code, stdout, _ = cli("faces", "detect", faces_dir / "two_people.jpg", "--json", "--draw", out)
    assert code == 0
    faces = json.loads(stdout)["faces"]
    assert len(faces) == 2 and all(f["quality"]["ok"] for f in faces)
    assert len(faces[0]["landmarks"]) == 5
    assert Image.open(out).size == Image.open(faces_dir / "two_people.jpg").size


def test_compare(cli, faces_dir: Path) -> None:
    code, stdout, _ = cli("faces", "compare", faces_dir / "obama.jpg", faces_dir / "obama2.jpg")
    assert code == 0 and "same person" in stdout
    code, stdout, _ = cli(
        "faces", "compare", faces_dir / "obama.jpg", faces_dir / "biden.jpg", "--json"
    )
    result = json.loads(stdout)
    assert result["same_person"] is False and result["confidence"] < 0.5


def test_enroll_identify_list_remove(cli, faces_dir: Path, tmp_path: Path) -> None:
    people = faces_dir / "people"
    code, _, err = cli("faces", "import", people, "--legal-basis", "consent")
    assert code == 0, err
    code, stdout, _ = cli("faces", "list", "--json")
    listed = {p["name"]: p for p in json.loads(stdout)}
    assert set(listed) == {"biden", "eileen_collins", "obama"}
    assert listed["obama"]["legal_bases"] == ["consent"]

    probe = faces_dir / "probes" / "obama_and_biden.jpg"
    code, _, err = cli("faces", "identify", probe)
    assert code == 2 and "--reason" in err
    code, stdout, _ = cli("faces", "identify", probe, "--reason", "test of the CLI", "--json")
    faces = json.loads(stdout)["faces"]
    assert {f["person"] for f in faces if f["known"]} == {"obama", "biden"}
    assert all(0 <= f["confidence"] <= 1 for f in faces)

    code, stdout, _ = cli("faces", "remove", "obama", "-r", "erasure request", "--yes")
    assert code == 0 and "2 template(s)" in stdout
    code, stdout, _ = cli("faces", "identify", probe, "-r", "after removal", "--json")
    assert "obama" not in {f["person"] for f in json.loads(stdout)["faces"]}
    code, _, err = cli("faces", "remove", "obama", "-r", "erasure request", "--yes")
    assert code == 3 and "no enrolled person" in err


def test_bad_inputs_give_clear_errors_and_leave_nothing(cli, faces_dir: Path, tmp_path: Path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), "gray").save(blank)
    cases = [
        (["faces", "detect", junk], "not an image"),
        (["faces", "detect", tmp_path / "missing.jpg"], "file not found"),
        (["faces", "compare", blank, faces_dir / "obama.jpg"], "no face found"),
        (["faces", "enroll", "x", faces_dir / "obama.jpg", empty, "-l", "consent"], "empty file"),
        (["faces", "enroll", "x", faces_dir / "two_people.jpg", "-l", "consent"], "similar size"),
        (
            [
                "faces",
                "enroll",
                "x",
                faces_dir / "obama.jpg",
                "-l",
                "contract",
                "--review-days",
                "0",
            ],
            "--review-days",
        ),
        (["faces", "enroll", "x", faces_dir / "obama.jpg", "-l", "because"], "not one of"),
    ]
    for args, message in cases:
        code, _, err = cli(*args)
        assert code != 0, args
        assert message in err, (args, err)
        assert "Traceback" not in err
    code, stdout, _ = cli("faces", "list", "--json")
    assert json.loads(stdout) == []


def test_identify_with_empty_gallery(cli, faces_dir: Path) -> None:
    code, stdout, _ = cli("faces", "identify", faces_dir / "obama.jpg", "-r", "check", "--json")
    assert code == 0
    assert [f["known"] for f in json.loads(stdout)["faces"]] == [False]


def test_unusable_data_dir(faces_dir: Path, tmp_path: Path, capsys) -> None:
    from vigil.cli import run

    blocker = tmp_path / "file"
    blocker.write_text("")
    code = run(["--data-dir", str(blocker / "sub"), "faces", "list"])
    assert code != 0 and "cannot create database folder" in capsys.readouterr().err


def write_pairs(path: Path, faces_dir: Path) -> None:
    """Same/different pairs over the test photos, with an illustrative group column. Obama's
    three photos are real and different; Biden's and the astronaut's second and third are the
    same photo mirrored, turned and relit (no package ships another); Messi and the cameraman
    are strangers with one photo each (a small face, a head turned away)."""
    who = {
        "people/obama/obama.jpg": "obama",
        "people/obama/obama2.jpg": "obama",
        "obama3.jpg": "obama",
        "people/biden/biden.jpg": "biden",
        "people/biden/biden2.jpg": "biden",
        "people/eileen_collins/astronaut.jpg": "eileen",
        "people/eileen_collins/astronaut2.jpg": "eileen",
        "probes/eileen_collins1.jpg": "eileen",
        "messi5.jpg": "messi",
        "cameraman.png": "cameraman",
    }
    files = list(who)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["img1", "img2", "same", "group"])
        for i, a in enumerate(files):
            for b in files[i + 1 :]:
                group = "A" if who[a] in ("obama", "biden") else "B"
                w.writerow([faces_dir / a, faces_dir / b, int(who[a] == who[b]), group])


def test_eval_pairs_reports_and_calibrates(
    cli, faces_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    pairs = tmp_path / "pairs.csv"
    write_pairs(pairs, faces_dir)
    roc = tmp_path / "roc.png"
    code, stdout, err = cli("eval", "pairs", pairs, "--roc", roc, "--json", "--save")
    assert code == 0, err
    r = json.loads(stdout)
    assert r["pairs"] == 45 and r["positives"] == 7
    assert r["accuracy"] >= 0.95 and r["best_accuracy"] >= r["accuracy"]
    assert r["roc_auc"] > 0.97
    assert r["tar_at_far"]["1e-2"] is None  # 38 impostor pairs cannot measure FAR 1e-2
    assert set(r["groups"]) == {"A", "B"} and "accuracy" in r["widest_gap"]
    assert Image.open(roc).size[0] > 300
    # The saved calibration now drives decisions.
    code, stdout, _ = cli(
        "faces", "compare", faces_dir / "obama.jpg", faces_dir / "obama3.jpg", "--json"
    )
    assert json.loads(stdout)["calibration"] == str(pairs)
    assert abs(json.loads(stdout)["threshold"] - r["best_threshold"]) < 1e-3
    # ...and the accuracy at that threshold, per group, is kept for the DPIA (decision 0064)
    measured = load_measured(data_dir, SFACE.name)
    assert measured is not None and measured.source == str(pairs)
    assert abs(measured.threshold - r["best_threshold"]) < 1e-3
    assert (
        measured.overall.pairs == 45 and abs(measured.overall.accuracy - r["best_accuracy"]) < 1e-9
    )
    assert set(measured.groups) == {"A", "B"} and "accuracy" in measured.widest_gap


def test_eval_pairs_bad_csv(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    code, _, err = cli("eval", "pairs", bad)
    assert code == 2 and "needs columns img1,img2,same" in err
    bad.write_text("img1,img2,same\nx.jpg,y.jpg,maybe\n")
    code, _, err = cli("eval", "pairs", bad)
    assert code == 2 and "bad.csv:2" in err


def test_eval_gallery(cli, faces_dir: Path) -> None:
    code, stdout, _ = cli("eval", "gallery", faces_dir / "people", "--json")
    assert code == 0
    r = json.loads(stdout)
    assert r["identities"] == 3 and r["closed_set_probes"] == 6
    assert r["rank1_accuracy"] == 1.0 and r["false_accept_rate"] == 0.0


def test_eval_gallery_missing_or_empty(cli, tmp_path: Path) -> None:
    code, _, err = cli("eval", "gallery", tmp_path / "nowhere")
    assert code == 2 and "not a folder" in err
    code, _, err = cli("eval", "gallery", tmp_path)
    assert code == 2 and "no NAME/ sub-folders" in err


def test_bench_faces_runs(cli, faces_dir: Path) -> None:
    """The benchmark itself is not a test; this only keeps it from rotting."""
    import cv2

    threads = cv2.getNumThreads()
    code, stdout, err = cli(
        "bench",
        "faces",
        "--faces",
        faces_dir,
        "--seconds",
        "0.2",
        "--gallery",
        "2000",
        "--cctv-frames",
        "1",
    )
    assert code == 0, err
    assert "frames/s" in stdout and "faces/s" in stdout and "ms" in stdout
    # its one-core figure leaves OpenCV's threads as they were (not sequential for the rest)
    assert cv2.getNumThreads() == threads
    assert "32px" in stdout and "whole face" in stdout  # the table wraps long names
    assert "start-up" in stdout  # the whole command, run as a person would


def test_enrolment_search_and_removal_are_audited(cli, faces_dir: Path) -> None:
    assert cli("faces", "enroll", "obama", faces_dir / "obama.jpg", "-l", "consent")[0] == 0
    assert cli("faces", "identify", faces_dir / "obama2.jpg", "-r", "door check")[0] == 0
    code, _, err = cli("faces", "identify", faces_dir / "obama2.jpg", "-r", "  ")
    assert code == 2 and "reason" in err  # refused before any search, and not recorded
    assert cli("faces", "remove", "obama", "-r", "erasure request", "--yes")[0] == 0
    code, stdout, _ = cli("audit", "show", "--json")
    records = sorted(json.loads(stdout), key=lambda r: r["seq"])
    actions = [r["action"] for r in records if r["action"] != "view_audit"]
    assert actions == ["enroll", "identify", "remove_person"]
    enroll, identify, remove = (r for r in records if r["action"] != "view_audit")
    assert enroll["person"] == remove["person"] and enroll["details"]["legal_basis"] == "consent"
    assert identify["reason"] == "door check" and identify["source"] == "cli"
    assert cli("audit", "verify")[0] == 0
