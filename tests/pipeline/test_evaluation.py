"""The metrics of `vigil eval video` on hand-made truth and predictions."""

from pathlib import Path

import pytest

from vigil.errors import InputError
from vigil.pipeline.evaluation import (
    Observed,
    Truth,
    ZoneSpan,
    band_of,
    crossing,
    evaluate,
    plot_report,
    read_truth,
    zone_edges,
)

FPS = 10.0


def walker_truth() -> Truth:
    """Two people over 10 key frames (1 s): A 100 px tall walking down past the line `mid`
    (y = 0.5 of 480), B 50 px tall standing."""
    frames = []
    for n in range(10):
        frames.append(
            {
                "frame": n,
                "objects": [
                    {"kind": "person", "box": [100, 150 + 10 * n, 40, 100], "track": "A"},
                    {"kind": "person", "box": [400, 100, 25, 50], "track": "B"},
                    {"kind": "vehicle", "box": [500, 300, 120, 60]},
                ],
            }
        )
    return Truth.model_validate(
        {
            "width": 640,
            "height": 480,
            "fps": FPS,
            "frames": frames,
            "lines": [{"name": "mid", "a": [0, 0.5], "b": [1, 0.5]}],
            "walks": [
                {"track": "A", "entry": 0, "exit": 0.9, "crossings": {"mid": "+"}},
                {"track": "B", "entry": 0, "exit": 0.9},
            ],
        }
    )


def perfect(truth: Truth, ids: dict[str, int] | None = None) -> Observed:
    ids = ids or {"A": 1, "B": 2}
    frames = {
        kf.frame / truth.fps: [
            (ids[o.track], tuple(o.box)) for o in kf.objects if o.kind == "person" and o.track
        ]
        for kf in truth.frames
    }
    return Observed(frames=frames, event_tracks=set(ids.values()), event_heights=[70.0, 70.0])


def test_a_perfect_prediction_scores_one() -> None:
    truth = walker_truth()
    r = evaluate(truth, perfect(truth))
    assert r.precision == r.recall == 1.0
    assert r.key_frames_evaluated == 10
    by_band = {b.band: b for b in r.bands}
    assert by_band["<60"].recall == by_band["60-120"].recall == 1.0
    assert by_band[">=120"].true_boxes == 0 and by_band[">=120"].recall is None
    assert (r.count_error, r.events_per_walk) == (0, 1.0)
    assert (r.fragmentation, r.identity_switches, r.merges) == (1.0, 0, 0)
    # A's feet go from y 250 to 340, below the line (y 240) all along: the truth says A
    # crossed it (earlier, unseen), the prediction cannot.
    assert {(c.line, c.direction): (c.true, c.predicted) for c in r.lines} == {
        ("mid", "+"): (1, 0),
        ("mid", "-"): (0, 0),
    }


def test_feet_crossing_a_line_are_counted_by_direction() -> None:
    truth = walker_truth()
    obs = perfect(truth)
    # Lift A by 30 px: feet from y 220 to 310, crossing y = 240 downwards.
    obs.frames = {
        t: [(k, (x, y - 30, w, h)) if k == 1 else (k, (x, y, w, h)) for k, (x, y, w, h) in boxes]
        for t, boxes in obs.frames.items()
    }
    counts = {(c.line, c.direction): c.predicted for c in evaluate(truth, obs).lines}
    assert counts == {("mid", "+"): 1, ("mid", "-"): 0}
    assert crossing((0, 240), (640, 240), (10, 250), (10, 230)) == "-"
    assert crossing((0, 240), (100, 240), (300, 230), (300, 250)) is None  # beside the segment


def test_a_shifted_box_drops_under_iou() -> None:
    truth = walker_truth()
    obs = perfect(truth)
    # B's box moved by 60% of its width: IoU 0.25, neither a hit nor a miss of A.
    obs.frames = {
        t: [(k, (x + 15, y, w, h)) if k == 2 else (k, (x, y, w, h)) for k, (x, y, w, h) in boxes]
        for t, boxes in obs.frames.items()
    }
    r = evaluate(truth, obs)
    by_band = {b.band: b for b in r.bands}
    assert by_band["<60"].recall == 0.0 and by_band["<60"].precision == 0.0
    assert by_band["60-120"].recall == 1.0
    assert r.precision == r.recall == 0.5


def test_a_split_track_is_a_switch_and_fragmentation_two() -> None:
    truth = walker_truth()
    obs = perfect(truth)
    # A is track 1 for the first half second, then track 3.
    obs.frames = {
        t: [(3 if k == 1 and t >= 0.5 else k, b) for k, b in boxes]
        for t, boxes in obs.frames.items()
    }
    obs.event_heights, obs.event_tracks = [70.0] * 3, {1, 2, 3}
    r = evaluate(truth, obs)
    assert r.precision == r.recall == 1.0
    assert r.identity_switches == 1
    assert r.fragmentation == 1.5  # A: 2 predicted tracks, B: 1
    assert (r.count_error, r.events_per_walk) == (1, 1.5)
    assert r.merges == 0


def test_one_track_over_two_people_is_a_merge() -> None:
    truth = walker_truth()
    obs = perfect(truth, {"A": 1, "B": 1})
    assert evaluate(truth, obs).merges == 1


def test_key_frames_need_an_analysed_frame_near_them() -> None:
    truth = walker_truth()
    obs = perfect(truth)
    obs.frames = {t: b for t, b in obs.frames.items() if round(t * FPS) % 2 == 0}  # 5 fps
    r = evaluate(truth, obs)
    assert (r.key_frames, r.key_frames_evaluated) == (10, 5)
    assert r.recall == 1.0


def test_bands() -> None:
    assert [band_of(h) for h in (10, 59.9, 60, 119, 120, 400)] == [
        "<60",
        "<60",
        "60-120",
        "60-120",
        ">=120",
        ">=120",
    ]


def test_zone_span_edges() -> None:
    truth = [
        ZoneSpan(zone="press", state="running", start=0, end=10),
        ZoneSpan(zone="press", state="idle", start=10, end=20),
        ZoneSpan(zone="press", state="running", start=20, end=30),
    ]
    predicted = [
        ZoneSpan(zone="press", state="running", start=0, end=11.5),
        ZoneSpan(zone="press", state="idle", start=11.5, end=19),
        ZoneSpan(zone="press", state="running", start=19, end=30),
        ZoneSpan(zone="other", state="running", start=0, end=30),
    ]
    edges = {(z.zone, z.state): z for z in zone_edges(truth, predicted)}
    running, idle = edges["press", "running"], edges["press", "idle"]
    assert (running.true_spans, running.matched_spans) == (2, 2)
    assert running.mean_start_error_s == pytest.approx(0.5)
    assert running.mean_end_error_s == pytest.approx(0.75)
    assert running.max_edge_error_s == pytest.approx(1.5)
    assert (idle.mean_start_error_s, idle.mean_end_error_s) == (1.5, 1.0)
    assert zone_edges(truth, [])[0].matched_spans == 0


def test_truth_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(
        '{"width": 640, "height": 480, "fps": 10, "lines": [{"name": "x", '
        '"a": [0, 2], "b": [1, 1]}]}'
    )
    with pytest.raises(InputError, match=r"lines\.0\.a"):
        read_truth(bad)
    bad.write_text("{")
    with pytest.raises(InputError, match="not JSON"):
        read_truth(bad)


def test_plot(tmp_path: Path) -> None:
    truth = walker_truth()
    out = plot_report(evaluate(truth, perfect(truth)), tmp_path / "eval.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_line_counts_without_walks_and_a_walk_crossing_twice() -> None:
    truth = walker_truth()
    truth.walks[0].crossings["mid"] = ["+", "-"]  # there and back again
    assert {(c.direction, c.true) for c in evaluate(truth, perfect(truth)).lines} == {
        ("+", 1),
        ("-", 1),
    }
    counted = Truth.model_validate(
        {
            "width": 640,
            "height": 480,
            "fps": FPS,
            "lines": [{"name": "mid", "a": [0, 0.5], "b": [1, 0.5], "counts": {"+": 3, "-": 4}}],
        }
    )
    r = evaluate(counted, Observed(event_heights=[70.0] * 5))
    assert (r.walks, r.count_error, r.events_per_walk) == (None, None, None)
    assert [(c.direction, c.true, c.predicted) for c in r.lines] == [("+", 3, 0), ("-", 4, 0)]
