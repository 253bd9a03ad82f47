"""The escalation app's admin: the routing configuration, and incidents (view-only,
changed by actions through the lifecycle services)."""

from escalation.admin import config, incidents, matrix

__all__ = ["config", "incidents", "matrix"]
