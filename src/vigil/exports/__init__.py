"""Exports of footage: one core (`exports.core`) that cuts, redacts, signs and zips a clip for
the CLI, the API and the hub, with one default (redacted) and one audit record."""
