"""All models; importing this package registers every table on Base.metadata."""

from storage.models.access import AuditEntry, Chat, Contact, Flag, Invite, User, UserRole
from storage.models.base import Base
from storage.models.runtime import Conversation, OutboxMessage, Timer

__all__ = [
    "AuditEntry",
    "Base",
    "Chat",
    "Contact",
    "Conversation",
    "Flag",
    "Invite",
    "OutboxMessage",
    "Timer",
    "User",
    "UserRole",
]
