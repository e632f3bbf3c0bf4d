from vigil.pipeline.analyzer import EventDraft
from vigil.pipeline.offline import one_per_uid


def draft(uid: str | None, start: float, end: float, final: bool = True) -> EventDraft:
    return EventDraft("cam", "person", start, end, 1, [], None, uid=uid, final=final)


def test_one_event_per_uid_the_completed_one() -> None:
    events = [
        draft("a", 1.0, 2.0, final=False),  # announced while the track goes on
        draft(None, 0.5, 3.0),  # a zone change: no uid, always kept
        draft("b", 1.5, 4.0),
        draft("a", 1.0, 9.0),  # completed under the same uid
    ]
    kept = one_per_uid(events)
    assert [(e.uid, e.end) for e in kept] == [(None, 3.0), ("a", 9.0), ("b", 4.0)]
    assert all(e.final for e in kept)
