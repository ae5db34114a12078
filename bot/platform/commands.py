"""The commands each role may use, for /help and Telegram's command menus."""

from __future__ import annotations

from dataclasses import dataclass

from bot.platform.roles import Role


@dataclass(frozen=True)
class CommandSpec:
    """One command: who may use it, where, and its description's catalog message."""

    name: str
    description: str
    roles: frozenset[str] | None = None  # None: any active user
    private: bool = True
    group: bool = False
    order: int = 100

    def allowed(self, roles: set[str]) -> bool:
        """Whether a user holding these roles may use the command."""
        return self.roles is None or bool(self.roles & roles)


def roles(*names: Role) -> frozenset[str]:
    """A role set for CommandSpec.roles."""
    return frozenset(str(n) for n in names)


class CommandRegistry:
    """Every command the handler modules declare."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}

    def add(self, *specs: CommandSpec) -> None:
        """Declare commands."""
        for spec in specs:
            self._specs[spec.name] = spec

    def all(self) -> list[CommandSpec]:
        """Every command, in menu order."""
        return sorted(self._specs.values(), key=lambda s: (s.order, s.name))

    def for_roles(self, user_roles: set[str], *, private: bool = True) -> list[CommandSpec]:
        """The commands a user with these roles may use in a private chat or a group."""
        return [
            spec
            for spec in self.all()
            if spec.allowed(user_roles) and (spec.private if private else spec.group)
        ]
