"""The web UI: server-rendered pages (Jinja2) with small vanilla JS that calls /api/v1."""
