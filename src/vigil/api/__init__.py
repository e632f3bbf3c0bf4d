"""The REST API (/api/v1) and the app factory `vigil serve` and `vigil api` run."""

from vigil.api.app import create_app
from vigil.api.context import ApiContext
from vigil.api.live import LiveFrame, LiveFrames, feed_camera

__all__ = ["ApiContext", "LiveFrame", "LiveFrames", "create_app", "feed_camera"]
