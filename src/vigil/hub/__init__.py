"""The hub: one place that pulls every site's events, status, audit copies and thumbnails
(`ingest`), keeps them for as long as `hub.yaml` says (`retention`), holds a gallery of people
and watchlists that name sites (`gallery`, `placement`, `pusher`), searches by photo across
sites (`search`), and serves a web UI and API over it all (`app`, `routes/`, `pages`).
`HubNode` (`node`) starts and stops it from a `HubConfig` (`config`, `hub.yaml`).

It reaches the sites only through `vigil.sync` (the wire contract and `server.connect_site`);
the sites never import it.
"""
