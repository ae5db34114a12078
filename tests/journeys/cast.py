"""A ready office for journeys: people with roles, bound group chats, all set up through chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.platform.config import Policy
from emulator.testing import GroupHandle, UserHandle
from tests.harness import Bot, Stage


async def enlist(admin: UserHandle, user: UserHandle, role: str) -> None:
    """Invite a user with a role and let them join through the link."""
    await admin.send(f"/invite {role}")
    invite = await admin.wait_for("https://t.me/")
    link = next(word for word in invite.text.split() if word.startswith("https://t.me/"))
    await user.send(f"/start {link.split('?start=')[1]}")
    await user.wait_for("/help")


async def bind(admin: UserHandle, group: GroupHandle, purpose: str) -> None:
    """Bind a group to a purpose from inside it."""
    await group.send(admin, f"/bind {purpose}")
    await group.wait_for("本群已绑定")


@dataclass
class Office:
    """The cast of the plan: leadership, tech center, duty officers, staff, and their chats."""

    bot: Bot  # or a tests.proc.BotProcess when started as a separate process
    admin: UserHandle
    leader: UserHandle
    deputy: UserHandle
    tech: UserHandle
    tech_lead: UserHandle
    duty: UserHandle
    staff: UserHandle
    leadership: GroupHandle
    tech_center: GroupHandle
    all_staff: GroupHandle

    def people(self) -> list[UserHandle]:
        """Everyone in the office, admin first."""
        return [
            self.admin,
            self.leader,
            self.deputy,
            self.tech,
            self.tech_lead,
            self.duty,
            self.staff,
        ]


Starter = Callable[[list[UserHandle], dict[str, UserHandle]], Awaitable[Any]]


async def open_office(
    stage: Stage,
    policy: Policy | None = None,
    lang: str = "en",
    *,
    starter: Starter | None = None,
) -> Office:
    """Start a bot (in-process unless a starter is given) and set up an office through chat."""
    tg = stage.tg
    admin = tg.user("Admin Wang", lang=lang)
    people = {
        "leader": (tg.user("Leader Zhao", lang=lang), "leader"),
        "deputy": (tg.user("Deputy Qian", lang=lang), "leader"),
        "tech": (tg.user("Tech Sun", lang=lang), "tech_center"),
        "tech_lead": (tg.user("Lead Zhou", lang=lang), "tech_center"),
        "duty": (tg.user("Duty Wu", lang=lang), "duty"),
        "staff": (tg.user("Staff Zheng", lang=lang), "staff"),
    }
    if starter is None:
        bot: Any = await stage.start_bot(admins=[admin], policy=policy)
    else:
        bot = await starter([admin], {name: user for name, (user, _) in people.items()})
    await admin.send("/start")
    await admin.wait_for("/report")
    for user, role in people.values():
        await enlist(admin, user, role)
    leader, deputy = people["leader"][0], people["deputy"][0]
    tech, tech_lead = people["tech"][0], people["tech_lead"][0]
    duty, staff = people["duty"][0], people["staff"][0]
    leadership = tg.group("应急管理领导小组", members=[admin, leader, deputy])
    tech_center = tg.group("技术应用中心", members=[admin, tech, tech_lead, duty])
    all_staff = tg.group("全体人员", members=[admin, leader, deputy, tech, tech_lead, duty, staff])
    for group, purpose in (
        (leadership, "leadership"),
        (tech_center, "tech_center"),
        (all_staff, "all_staff"),
    ):
        await bind(admin, group, purpose)
    return Office(
        bot=bot,
        admin=admin,
        leader=leader,
        deputy=deputy,
        tech=tech,
        tech_lead=tech_lead,
        duty=duty,
        staff=staff,
        leadership=leadership,
        tech_center=tech_center,
        all_staff=all_staff,
    )


async def report(
    reporter: UserHandle,
    *,
    category: str = "Intrusion",
    subtype: str | None = "from the internet",
    level: str = "large",
    where: str = "Portal web server",
    what: str = "The home page shows a foreign banner",
    source: str | None = "203.0.113.7",
    photo: bytes | None = None,
    command: str = "/report",
) -> str:
    """Walk the guided report with buttons and typed answers; returns the incident number."""
    await reporter.send(command)
    prompt = await reporter.wait_for("What kind of incident")
    await prompt.press(category)
    if subtype is not None:
        prompt = await reporter.wait_for("Where does the intrusion come from")
        await prompt.press(next(b.text for row in prompt.buttons for b in row if subtype in b.text))
    prompt = await reporter.wait_for("Choose the level")
    await prompt.press(next(b.text for row in prompt.buttons for b in row if level in b.text))
    prompt = await reporter.wait_for("When did it happen")
    await prompt.press("Just now")
    await reporter.wait_for("Where did it happen")
    await reporter.send(where)
    await reporter.wait_for("What do you see")
    await reporter.send(what)
    prompt = await reporter.wait_for("Do you know where it comes from")
    if source is None:
        await prompt.press("Skip")
    else:
        await reporter.send(source)
    prompt = await reporter.wait_for("Add photos or files")
    if photo is not None:
        await reporter.send_photo(photo)
        prompt = await reporter.wait_for("Received (1 of at most 10)")
    await prompt.press("Done")
    review = await reporter.wait_for("Please check your report")
    await review.press("📨 Submit")
    done = await reporter.wait_for("Your report is in")
    return done.text.split("Its number is ")[1].split(".")[0].strip()
