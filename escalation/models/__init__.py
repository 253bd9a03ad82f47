from escalation.models.incidents import Incident, Occurrence, Responder, TimelineEntry
from escalation.models.mail import Installation, MailBurst
from escalation.models.matrix import MatrixEvent, MatrixMessage, MatrixSync
from escalation.models.notifications import Notification
from escalation.models.routing import Contact, EscalationPolicy, Repo, Route, Silence
from escalation.models.watches import Watch

__all__ = [
    "Contact",
    "EscalationPolicy",
    "Incident",
    "Installation",
    "MailBurst",
    "MatrixEvent",
    "MatrixMessage",
    "MatrixSync",
    "Notification",
    "Occurrence",
    "Repo",
    "Responder",
    "Route",
    "Silence",
    "TimelineEntry",
    "Watch",
]
