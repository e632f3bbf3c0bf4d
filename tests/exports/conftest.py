"""The API tests' site (recorded footage, a fresh database per test, users of every role)."""

from tests.api.conftest import clients, ctx, footage

__all__ = ["clients", "ctx", "footage"]
