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
    tracker = Tracker(dict, max_missed_s=1.0)
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
    tracker = Tracker(dict, max_missed_s=0.5)
    tracker.update([(10, 10, 30, 80)], 0.0)
    ended = []
    for i in range(1, 10):
        ended += tracker.update([], i / 5)[1]
    assert ended == [] and tracker.tracks == []


def test_a_person_who_leaves_and_returns_later_is_a_new_track() -> None:
    tracker = Tracker(dict, max_missed_s=1.0)
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

    tracker = Tracker(dict)
    for i in range(4):  # a walks right, b walks left, 30 px a frame
        tracker.update([(30.0 * i, 100, 60, 60), (210.0 - 30 * i, 100, 60, 60)], i / 5)
    a, b = tracker.tracks
    who = {a.id: "a", b.id: "b"}
    pa, pb = a.predicted(0.8), b.predicted(0.8)
    assert 0 < abs(pb[0] - pa[0]) < 30, "the two are crossing"
    # Each box lies nearer the other's predicted place: one overtook the other.
    boxes = [(pa[0] + 5, 100, 60, 60), (pb[0] - 5, 100, 60, 60)]
    labels = ["b", "a"]
    ungated = copy.deepcopy(tracker).update(boxes, 0.8)[0]
    assert [who[tr.id] for tr in ungated] == ["a", "b"], "overlap alone swaps them"
    asked: list[bool] = []

    def gate(track, i: int, ambiguous: bool) -> bool:
        asked.append(ambiguous)
        return who[track.id] == labels[i]

    matched, _ = tracker.update(boxes, 0.8, gate=gate)
    assert [who.get(tr.id) for tr in matched] == labels, "each box back on its own track"
    assert len(tracker.tracks) == 2, "no new track for a refused pairing that had another"
    assert asked and all(asked), "a crossing is ambiguous"


def test_two_people_walking_side_by_side_stay_two_tracks() -> None:
    """As the walkers scene's pair: 6 px apart, same speed, noisy boxes, missed now and then."""
    tracker = Tracker(dict)
    rng = np.random.default_rng(1)
    seen: dict[str, set[int]] = {"left": set(), "right": set()}
    for i in range(40):  # 8 s at 5 fps
        t = i / 5
        boxes = [walk((60, 110), (70, 2), t), walk((96, 110), (70, 2), t)]
        boxes = [tuple(v + rng.normal(0, 2) for v in b) for b in boxes]
        names = ["left", "right"]
        if i % 6 == 2:  # one of them missed
            del boxes[i % 2], names[i % 2]
        matched, ended = tracker.update(boxes, t)
        assert ended == []
        for name, tr in zip(names, matched, strict=True):
            seen[name].add(tr.id)
    assert seen == {"left": {1}, "right": {2}}


def test_a_person_missed_for_a_while_keeps_their_track() -> None:
    """Hidden for a second (five frames) while walking on: picked up where the motion says."""
    tracker = Tracker(dict, max_missed_s=1.5)
    ids = set()
    for i in range(30):
        t = i / 5
        boxes = [] if 10 <= i < 15 else [walk((0, 100), (40, 0), t)]
        matched, ended = tracker.update(boxes, t)
        assert ended == []
        ids |= {tr.id for tr in matched if tr is not None}
    assert ids == {1}
    (track,) = tracker.flush()
    assert track.hits == 25 and track.first_seen == 0.0 and track.last_seen == 29 / 5


def test_a_weak_detection_extends_a_track_but_never_starts_one() -> None:
    tracker = Tracker(dict, high_score=0.5)
    for i in range(10):  # a lone weak box (a shadow) stays nobody
        matched, _ = tracker.update([(300, 100, 30, 80)], i / 5, scores=[0.3])
        assert matched == [None]
    assert tracker.tracks == []
    for i in range(10, 13):
        tracker.update([walk((0, 100), (40, 0), i / 5)], i / 5, scores=[0.9])
    (track,) = tracker.tracks
    for i in range(13, 20):  # half hidden: only weak boxes, the track goes on
        t = i / 5
        matched, _ = tracker.update([walk((0, 100), (40, 0), t)], t, scores=[0.3])
        assert matched == [track]
    assert track.hits == 10 and track.last_seen == 19 / 5
    # A weak box near nobody's track is left alone, beside a confident one that continues it.
    t = 20 / 5
    matched, _ = tracker.update(
        [(500, 300, 30, 80), walk((0, 100), (40, 0), t)], t, scores=[0.3, 0.9]
    )
    assert matched == [None, track] and len(tracker.tracks) == 1


def test_a_weak_detection_does_not_pull_a_track_away() -> None:
    """A weak box overlapping the predicted place a little (IoU 0.33: enough for a confident
    box, not for a weak one; a false HOG box beside the person) is not taken: the track waits
    for the person instead of following the wrong box."""
    tracker = Tracker(dict, high_score=1.0)
    for i in range(10):
        tracker.update([walk((0, 100), (60, 0), i / 5)], i / 5, scores=[2.0])
    (track,) = tracker.tracks
    p = track.predicted(2.0)
    matched, _ = tracker.update([(p[0] + 15, p[1], 30, 80)], 2.0, scores=[0.7])
    assert matched == [None] and track.last_seen == 9 / 5
    matched, _ = tracker.update([walk((0, 100), (60, 0), 2.2)], 2.2, scores=[1.2])
    assert matched == [track]


def test_a_narrow_walker_seen_rarely_keeps_one_track() -> None:
    """At 2 frames a second a walker 34 px wide moves 30 px between frames: the boxes barely
    overlap, so only nearness can link them; a box over a body height away is not them."""
    tracker = Tracker(dict)
    ids = set()
    for k in range(8):
        (track,), _ = tracker.update([(300.0 + 30 * k, 218.0, 34.0, 84.0)], k / 2)
        ids.add(track.id)
    assert len(ids) == 1
    (other,), _ = tracker.update([(660.0, 218.0, 34.0, 84.0)], 4.0)  # 120 px on: another
    assert other.id not in ids


def test_a_person_hidden_for_two_seconds_is_picked_up_where_they_stood() -> None:
    tracker = Tracker(dict, max_missed_s=3.0)
    (first,), _ = tracker.update([(100.0, 100.0, 30.0, 80.0)], 0.0)
    tracker.update([(101.0, 100.0, 30.0, 80.0)], 0.2)
    for k in range(10):  # behind a sign for 2 s
        tracker.update([], 0.4 + k * 0.2)
    (again,), _ = tracker.update([(104.0, 101.0, 30.0, 80.0)], 2.4)
    assert again is first
