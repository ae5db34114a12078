"""Refusals a service can give; handlers turn the key into a message in the user's language."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request that cannot be done; `key` names the message to show."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class NotAllowed(ServiceError):
    """The user's role does not allow this."""


class NotFound(ServiceError):
    """The thing asked for does not exist."""


class Stale(ServiceError):
    """The button or request refers to something that has moved on."""


class Invalid(ServiceError):
    """The input does not have the expected form."""
