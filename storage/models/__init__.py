"""All models; importing this package registers every table on Base.metadata."""

from storage.models.access import AuditEntry, Chat, Contact, Flag, Invite, User, UserRole
from storage.models.base import Base
from storage.models.cluster import ClusterState
from storage.models.handling import ChecklistTick, SituationReport
from storage.models.incidents import Attachment, Counter, Incident, Route, TimelineEntry
from storage.models.patrols import DutyOverride, PatrolRound
from storage.models.platform import Conversation, OutboxMessage, Timer
from storage.models.warnings import EarlyWarning, WarningBroadcast

__all__ = [
    "Attachment",
    "AuditEntry",
    "Base",
    "Chat",
    "ChecklistTick",
    "ClusterState",
    "Contact",
    "Conversation",
    "Counter",
    "DutyOverride",
    "EarlyWarning",
    "Flag",
    "Incident",
    "Invite",
    "OutboxMessage",
    "PatrolRound",
    "Route",
    "SituationReport",
    "TimelineEntry",
    "Timer",
    "User",
    "UserRole",
    "WarningBroadcast",
]
