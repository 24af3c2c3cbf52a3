"""Read-only API over the published lists in the Feast online store."""
