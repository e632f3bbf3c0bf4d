"""Every table, one module per area. Importing this package registers them all on Base."""

from vigil.store.models.faces import LegalBasis, Person, Template

__all__ = ["LegalBasis", "Person", "Template"]
