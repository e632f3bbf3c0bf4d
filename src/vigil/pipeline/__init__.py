"""Per-camera analysis and the event store: frames in, stored events (and notifications) out."""
