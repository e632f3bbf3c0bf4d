"""ONVIF cameras: find them (`discovery`, WS-Discovery), read and drive them (`device`: device
information, media profiles, stream URIs, PTZ; `soap` underneath, WS-Security digest), add one to
vigil.yaml (`adding`), and turn their motion and analytics events into Vigil events (`events`).

A small hand-written SOAP client over httpx and ElementTree for the dozen operations used, not a
WSDL-driven library (decision 0071). Beside the pipeline: it writes events through
`vigil.events.store`, and the node, the API and the CLI use it.
"""
