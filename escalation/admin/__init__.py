"""The escalation app's admin: the routing configuration, and incidents (view-only,
changed by actions through the lifecycle services)."""

from escalation.admin import incidents, matrix, routing, rules, watches

__all__ = ["incidents", "matrix", "routing", "rules", "watches"]
