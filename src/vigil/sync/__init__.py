"""Edge-to-hub replication over NATS JetStream (issue 8).

`server` starts a nats-server (edge: a leaf node of the hub; hub: leaf listener with one user per
site), `edge` publishes the edge's events, camera status, audit records and thumbnails into the
edge's own JetStream, `hub` pulls them across the leaf link into the hub database.
"""
