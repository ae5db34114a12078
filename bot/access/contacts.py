"""The contacts card: the leadership group and the tech center's responsible people (R2)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.buttons import CONTACT_FIELDS
from bot.access.permissions import is_admin
from bot.access.phones import BadPhone, international
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound
from bot.platform.roles import Position
from storage import access as q
from storage.models import Contact

EDITABLE = CONTACT_FIELDS
PHONES = ("office_phone", "mobile")
NAME_LIMIT = 100
TEXT_LIMIT = 100  # a title or an area of responsibility
CLEAR = "-"  # typed for an optional field: leave it empty


async def seed_from_policy(*, session: AsyncSession, ctx: AppContext) -> int:
    """Fill an empty contacts table from the policy file; returns how many were added."""
    if await q.count_contacts(session=session):
        return 0
    for order, entry in enumerate(ctx.policy.contacts):
        await q.add_contact(
            session=session,
            position=entry.position.value,
            name=entry.name,
            title=entry.title,
            area=entry.area,
            office_phone=entry.office_phone,
            mobile=entry.mobile,
            telegram_id=entry.telegram_id,
            sort_order=order,
        )
    return len(ctx.policy.contacts)


async def card(*, session: AsyncSession) -> list[tuple[str, list[Contact]]]:
    """Contacts grouped by position, leadership first, in display order."""
    groups: dict[str, list[Contact]] = {p.value: [] for p in Position}
    for contact in await q.list_contacts(session=session):
        groups.setdefault(contact.position, []).append(contact)
    return [(position, people) for position, people in groups.items() if people]


def phone(ctx: AppContext, value: str) -> str:
    """Check and format a phone number typed by an admin."""
    try:
        return international(
            value, region=ctx.policy.phone_region, area_code=ctx.policy.phone_area_code
        )
    except BadPhone as exc:
        raise Invalid("contacts.bad_phone", value=value) from exc


def check_field(ctx: AppContext, field: str, value: str) -> str:
    """A field's value as typed, checked and tidied; an optional field may be left empty.

    A name has 1 to NAME_LIMIT characters; a title or an area at most TEXT_LIMIT; a phone
    number is written in international form. "" or "-" leave an optional field empty.
    """
    if field not in EDITABLE:
        raise Invalid("contacts.bad_field")
    value = value.strip()
    if field == "name":
        if not 1 <= len(value) <= NAME_LIMIT:
            raise Invalid("contacts.bad_name")
        return value
    if value in ("", CLEAR):
        return ""
    if field in PHONES:
        return phone(ctx, value)
    if len(value) > TEXT_LIMIT:
        raise Invalid("contacts.too_long", limit=TEXT_LIMIT, length=len(value))
    return value


async def existing(*, session: AsyncSession, contact_id: int) -> Contact:
    """A person on the card; NotFound when taken off meanwhile."""
    contact = await q.get_contact(session=session, contact_id=contact_id)
    if contact is None:
        raise NotFound("contacts.gone")
    return contact


async def _require_admin(session: AsyncSession, admin_id: int) -> None:
    if not is_admin(await q.get_user(session=session, user_id=admin_id)):
        raise NotAllowed("access.admins_only")


async def add(
    *,
    session: AsyncSession,
    ctx: AppContext,
    admin_id: int,
    position: Position,
    name: str,
    office_phone: str = "",
    mobile: str = "",
    title: str = "",
    area: str = "",
    telegram_id: int | None = None,
) -> Contact:
    """Add a person to the card (admins only)."""
    await _require_admin(session, admin_id)
    contact = await q.add_contact(
        session=session,
        position=position.value,
        name=check_field(ctx, "name", name),
        title=check_field(ctx, "title", title),
        area=check_field(ctx, "area", area),
        office_phone=check_field(ctx, "office_phone", office_phone),
        mobile=check_field(ctx, "mobile", mobile),
        telegram_id=telegram_id,
        sort_order=await q.count_contacts(session=session),
    )
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=admin_id,
        action="contact.added",
        target=f"contact:{contact.id}",
        name=contact.name,
        position=position.value,
    )
    return contact


async def update_field(
    *,
    session: AsyncSession,
    ctx: AppContext,
    admin_id: int,
    contact_id: int,
    field: str,
    value: str,
) -> Contact:
    """Change one field of a contact (admins only)."""
    await _require_admin(session, admin_id)
    contact = await q.get_contact(session=session, contact_id=contact_id)
    if contact is None:
        raise NotFound("contacts.gone")
    value = check_field(ctx, field, value)
    before = getattr(contact, field)
    setattr(contact, field, value)
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=admin_id,
        action="contact.changed",
        target=f"contact:{contact.id}",
        field=field,
        before=before,
        after=value,
    )
    return contact


async def remove(*, session: AsyncSession, ctx: AppContext, admin_id: int, contact_id: int) -> None:
    """Take a person off the card (admins only)."""
    await _require_admin(session, admin_id)
    contact = await q.get_contact(session=session, contact_id=contact_id)
    if contact is None:
        raise NotFound("contacts.gone")
    await q.delete_contact(session=session, contact_id=contact_id)
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=admin_id,
        action="contact.removed",
        target=f"contact:{contact_id}",
        name=contact.name,
    )


async def telegram_ids_for(*, session: AsyncSession, position: Position) -> list[int]:
    """Telegram ids of the people in a position who can be messaged."""
    return [
        c.telegram_id
        for c in await q.contacts_in_position(session=session, position=position.value)
        if c.telegram_id
    ]
