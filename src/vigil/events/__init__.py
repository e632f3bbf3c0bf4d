"""Events once seen: the event store and its outbox (`store`), watchlists (`watchlists`), and
review items that group a camera's events into activities (`review`).

Below the analysis and the API, above the tables (`vigil.store`): the pipeline, the node, the
API and the hub's site side all write or read events through here.
"""
