"""The hub's API routes under /api/v1/hub (views, search, clips, people, watchlists)."""
