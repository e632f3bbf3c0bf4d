"""The API tests' site (recorded footage, a fresh database per test, users of every role).
The footage is the session's recording of `tests/conftest.py`."""

from tests.api.conftest import clients, ctx

__all__ = ["clients", "ctx"]
