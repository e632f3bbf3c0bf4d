"""Tracking keeps identities through crossings and gaps, and ends tracks once."""

from __future__ import annotations

import numpy as np

from vigil.pipeline.tracker import Tracker, iou


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 1 / 3) < 1e-9


def walk(start: tuple[float, float], velocity: tuple[float, float], t: float):
    return (start[0] + velocity[0] * t, start[1] + velocity[1] * t, 30.0, 80.0)


def test_two_walkers_who_pass_each_other_stay_two_tracks() -> None:
    tracker = Tracker(max_missed_s=1.0)
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    finished = []
    rng = np.random.default_rng(0)
    for i in range(50):  # 10 s at 5 fps
        t = i / 5
        a = walk((0, 100), (60, 0), t)
        b = walk((600, 130), (-60, 0), t)
        boxes = [tuple(v + rng.normal(0, 1.5) for v in box) for box in (a, b)]
        if i % 7 == 3:  # a missed detection now and then
            boxes = boxes[:1]
        matched, ended = tracker.update(boxes, t)
        finished += ended
        ids["a"].add(matched[0].id)
        if len(matched) == 2:
            ids["b"].add(matched[1].id)
    finished += tracker.flush()
    assert ids == {"a": {1}, "b": {2}}, "identities swapped or tracks split"
    assert sorted(tr.id for tr in finished) == [1, 2]
    assert all(tr.hits > 40 for tr in finished)


def test_a_lone_false_detection_is_not_a_track() -> None:
    tracker = Tracker(max_missed_s=0.5)
    tracker.update([(10, 10, 30, 80)], 0.0)
    ended = []
    for i in range(1, 10):
        ended += tracker.update([], i / 5)[1]
    assert ended == [] and tracker.tracks == []


def test_a_person_who_leaves_and_returns_later_is_a_new_track() -> None:
    tracker = Tracker(max_missed_s=1.0)
    for i in range(5):
        tracker.update([(100, 100, 30, 80)], i / 5)
    _, ended = tracker.update([], 3.0)
    assert [tr.id for tr in ended] == [1]
    matched, _ = tracker.update([(100, 100, 30, 80)], 3.2)
    assert matched[0].id == 2


def test_a_gate_refusal_repairs_a_crossing_by_appearance() -> None:
    """Two faces meet; overlap alone pairs them the wrong way round at the crossing. A gate
    that knows who is who (the analyzer compares faces) refuses that, and each box goes back
    to its own track instead of starting a new one."""
    import copy

    tracker = Tracker()
    for i in range(4):  # a walks right, b walks left, 30 px a frame
        tracker.update([(30.0 * i, 100, 60, 60), (210.0 - 30 * i, 100, 60, 60)], i / 5)
    a, b = tracker.tracks
    who = {a.id: "a", b.id: "b"}
    pa, pb = a.predicted(0.8), b.predicted(0.8)
    assert 0 < pb[0] - pa[0] < 30, "the two are about to cross"
    # Each box lies nearer the other's predicted place: b overtook a.
    boxes = [(pa[0] + 5, 100, 60, 60), (pb[0] - 5, 100, 60, 60)]
    labels = ["b", "a"]
    ungated = copy.deepcopy(tracker).update(boxes, 0.8)[0]
    assert [who[tr.id] for tr in ungated] == ["a", "b"], "overlap alone swaps them"
    asked: list[bool] = []

    def gate(track, i: int, ambiguous: bool) -> bool:
        asked.append(ambiguous)
        return who[track.id] == labels[i]

    matched, _ = tracker.update(boxes, 0.8, gate)
    assert [who.get(tr.id) for tr in matched] == labels, "each box back on its own track"
    assert len(tracker.tracks) == 2, "no new track for a refused pairing that had another"
    assert asked and all(asked), "a crossing is ambiguous"
