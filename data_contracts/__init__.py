"""Schemas and row-level rules shared by ingest, features and the Feast definitions."""
