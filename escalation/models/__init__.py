from escalation.models.config import Contact, EscalationPolicy, Repo, Route, Silence
from escalation.models.incidents import Incident, Occurrence, TimelineEntry

__all__ = [
    "Contact",
    "EscalationPolicy",
    "Incident",
    "Occurrence",
    "Repo",
    "Route",
    "Silence",
    "TimelineEntry",
]
