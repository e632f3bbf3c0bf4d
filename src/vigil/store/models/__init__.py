"""Every table, one module per area. Importing this package registers them all on Base."""

from vigil.store.models.audit import AuditAnchor, AuditCheckpoint, AuditRecord
from vigil.store.models.camera import MotionEvent, Segment, SegmentProblem
from vigil.store.models.events import (
    Channel,
    Delivery,
    DeliveryAttempt,
    Event,
    EventKind,
    WatchAction,
    Watchlist,
    WatchlistMember,
)
from vigil.store.models.faces import LegalBasis, Person, Template, UnknownFace

__all__ = [
    "LegalBasis",
    "MotionEvent",
    "Person",
    "Segment",
    "SegmentProblem",
    "Template",
    "UnknownFace",
]
__all__ += [
    "Channel",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "EventKind",
    "WatchAction",
    "Watchlist",
    "WatchlistMember",
]
__all__ += ["AuditAnchor", "AuditCheckpoint", "AuditRecord"]
from vigil.store.models.users import ApiToken, Role, User, UserSession  # noqa: E402

__all__ += ["ApiToken", "Role", "User", "UserSession"]
from vigil.store.models.hub import (  # noqa: E402
    HubAuditRecord,
    HubCameraStatus,
    HubEvent,
    HubSite,
    SyncCursor,
)

__all__ += ["HubAuditRecord", "HubCameraStatus", "HubEvent", "HubSite", "SyncCursor"]
from vigil.store.models.hub import HubEventTombstone, SyncCounter, SyncTombstone  # noqa: E402

__all__ += ["HubEventTombstone", "SyncCounter", "SyncTombstone"]
from vigil.store.models.review import (  # noqa: E402
    ReviewItem,
    ReviewItemEvent,
    ReviewMark,
    Severity,
)

__all__ += ["ReviewItem", "ReviewItemEvent", "ReviewMark", "Severity"]
from vigil.store.models.zones import ZoneOccupancy  # noqa: E402

__all__ += ["ZoneOccupancy"]
from vigil.store.models.events import MatchVerification, Verdict, Verification  # noqa: E402
from vigil.store.models.faces import VerifiedPair  # noqa: E402

__all__ += ["MatchVerification", "Verdict", "Verification", "VerifiedPair"]
from vigil.store.models.recognition import RecognitionPeriod  # noqa: E402

__all__ += ["RecognitionPeriod"]
from vigil.store.models.objections import HubObjection, Objection  # noqa: E402

__all__ += ["HubObjection", "Objection"]
from vigil.store.models.health import CameraHealth  # noqa: E402

__all__ += ["CameraHealth"]
from vigil.store.models.push import PushSubscription  # noqa: E402

__all__ += ["PushSubscription"]
from vigil.store.models.live import LiveLayout  # noqa: E402

__all__ += ["LiveLayout"]
