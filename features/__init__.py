"""Feast declarations (entities, sources, feature views). No logic, nothing done on import."""
