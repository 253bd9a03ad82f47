from escalation.models.incidents import Incident, Occurrence, Responder, TimelineEntry
from escalation.models.mail import Installation, MailBurst
from escalation.models.matrix import MatrixEvent, MatrixMessage, MatrixSync
from escalation.models.notifications import Notification
from escalation.models.routing import Contact, EscalationPolicy, Repo, Route, Silence
from escalation.models.rules import ContactChange, MatrixDirectRoom, NotificationRules
from escalation.models.watches import Watch

__all__ = [
    "Contact",
    "ContactChange",
    "EscalationPolicy",
    "Incident",
    "Installation",
    "MailBurst",
    "MatrixDirectRoom",
    "MatrixEvent",
    "MatrixMessage",
    "MatrixSync",
    "Notification",
    "NotificationRules",
    "Occurrence",
    "Repo",
    "Responder",
    "Route",
    "Silence",
    "TimelineEntry",
    "Watch",
]
