"""Closing an incident: the situation report (R8) and the end of the emergency (R10)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit, chats
from bot.access.permissions import can_handle, is_leader
from bot.handling import progress, report_doc
from bot.incidents import escalation, incident_card, reports, routing
from bot.incidents.model import Status
from bot.platform import outbox
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound, Stale
from bot.platform.roles import ChatPurpose, Level
from messages.i18n import DEFAULT_LANGUAGE
from storage import access as access_q
from storage import handling as q
from storage import incidents as incident_q
from storage.models import Incident, SituationReport, TimelineEntry, User

TEXT_LIMITS = {"consequences": 2000, "process": 6000, "result": 2000, "recommendations": 2000}
NOTE_LIMIT = 1000
# Timeline entries the handling process is drafted from.
PROCESS_KINDS = ("reported", "acknowledged", "taken", "step_done", "update", "relevelled")


@dataclass
class CloseDraft:
    """The answers of a guided close, as kept in the conversation row."""

    incident_id: int
    consequences: str | None = None
    process: str | None = None
    result: str | None = None
    ended_at: str | None = None
    recommendations: str | None = None
    suggested_process: str = ""
    # Known when the close starts, so each answer can be checked as it is typed.
    reported_at: str | None = None
    is_drill: bool = False

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CloseDraft:
        """Read a draft from stored JSON."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_data(self) -> dict[str, Any]:
        """The draft as JSON for the conversation row."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def ended(self) -> datetime | None:
        """The end time as a datetime."""
        return datetime.fromisoformat(self.ended_at) if self.ended_at else None

    @property
    def reported(self) -> datetime | None:
        """When the incident was reported (an end time cannot be before it)."""
        return datetime.fromisoformat(self.reported_at) if self.reported_at else None

    def missing(self) -> list[str]:
        """Fields not answered yet."""
        return [
            name
            for name in ("consequences", "process", "result", "ended_at", "recommendations")
            if not getattr(self, name)
        ]


@dataclass
class Resolved:
    """A resolved incident, its report, and where the report went."""

    incident: Incident
    report: SituationReport
    chat_ids: list[int] = field(default_factory=list)


async def _load(session: AsyncSession, incident_id: int) -> Incident:
    incident = await incident_q.get_incident(
        session=session, incident_id=incident_id, for_update=True
    )
    if incident is None:
        raise NotFound("incidents.not_found")
    return incident


async def may_resolve(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> Incident:
    """The incident, if the user may resolve it now (they must handle its level)."""
    incident = await _load(session, incident_id)
    user = await access_q.get_user(session=session, user_id=user_id)
    if not can_handle(ctx.policy, user, Level(incident.level)):
        raise NotAllowed("incidents.not_your_level", level=incident.level)
    if incident.status == Status.REPORTED:
        raise Stale("handling.acknowledge_first")
    if incident.status in (Status.RESOLVED, Status.CLOSED):
        raise Stale("handling.already_resolved")
    return incident


def check_text(field_name: str, text: str) -> str:
    """A typed answer of the close, trimmed, or Invalid when empty or too long."""
    text = text.strip()
    limit = TEXT_LIMITS[field_name]
    if not 1 <= len(text) <= limit:
        raise Invalid("handling.bad_text", limit=limit)
    return text


def check_end(ctx: AppContext, reported_at: datetime, ended: datetime) -> datetime:
    """The end time, refused when it is before the report or in the future."""
    if ended < reported_at.replace(second=0, microsecond=0):
        raise Invalid(
            "handling.end_before_report", reported=ctx.renderer.format_datetime(reported_at)
        )
    if ended > ctx.now():
        raise Invalid("report.future_time")
    return ended


async def process_draft(*, session: AsyncSession, ctx: AppContext, incident: Incident) -> str:
    """The handling process as the timeline tells it, as plain text the closer can edit.

    Written in the office's language (Chinese): it becomes part of the report the office files.
    """
    entries = [
        e
        for e in await incident_q.timeline(session=session, incident_id=incident.id)
        if e.kind in PROCESS_KINDS
    ]
    names = await progress.names_in(session=session, entries=entries)
    rendered = ctx.renderer.render_full(
        DEFAULT_LANGUAGE, "handling/process_draft", incident=incident, entries=entries, names=names
    )
    # The template only escapes; undoing that gives the plain text back as typed.
    return html.unescape(rendered)[: TEXT_LIMITS["process"]]


async def resolve(
    *, session: AsyncSession, ctx: AppContext, user_id: int, draft: CloseDraft
) -> Resolved:
    """Resolve an incident with its situation report: posted and attached in every routed chat."""
    gaps = draft.missing()
    if gaps:
        raise Invalid("handling.incomplete", fields=", ".join(gaps))
    incident = await may_resolve(
        session=session, ctx=ctx, incident_id=draft.incident_id, user_id=user_id
    )
    ended = draft.ended
    assert ended is not None
    check_end(ctx, incident.reported_at, ended)
    now = ctx.now()
    report = await q.add_report(
        session=session,
        incident_id=incident.id,
        consequences=check_text("consequences", draft.consequences or ""),
        process=check_text("process", draft.process or ""),
        result=check_text("result", draft.result or ""),
        ended_at=ended,
        recommendations=check_text("recommendations", draft.recommendations or ""),
        written_by=user_id,
        written_at=now,
    )
    incident.status = Status.RESOLVED
    incident.resolved_at = now
    await incident_q.add_timeline(
        session=session, incident_id=incident.id, at=now, kind="resolved", actor_id=user_id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user_id,
        action="incident.resolved",
        target=f"incident:{incident.number}",
    )
    await escalation.stop(session=session, incident_id=incident.id)
    await progress.stop_reminders(session=session, incident_id=incident.id)
    await incident_card.refresh_cards(session=session, ctx=ctx, incident=incident)
    chat_ids = await _post_report(session, ctx, incident, report)
    return Resolved(incident=incident, report=report, chat_ids=chat_ids)


async def report_view(
    *, session: AsyncSession, incident: Incident, report: SituationReport
) -> report_doc.ReportView:
    """Everything the report's message and document show."""
    entries = list(await incident_q.timeline(session=session, incident_id=incident.id))
    names = await progress.names_in(session=session, entries=entries)
    for user_id in (incident.reporter_id, incident.handler_id, report.written_by):
        if user_id is not None and user_id not in names:
            user = await access_q.get_user(session=session, user_id=user_id)
            if user is not None:
                names[user_id] = user
    return report_doc.ReportView(incident=incident, report=report, timeline=entries, names=names)


async def _post_report(
    session: AsyncSession, ctx: AppContext, incident: Incident, report: SituationReport
) -> list[int]:
    view = await report_view(session=session, incident=incident, report=report)
    languages = await routing.chat_languages(session=session, incident_id=incident.id)
    documents: dict[str, bytes] = {}
    now = ctx.now()
    for chat_id, language in languages.items():
        parts = ctx.renderer.render_parts(
            language, "handling/situation_report", **view.template_values()
        )
        for part in parts:
            await outbox.enqueue_message(
                session=session, chat_id=chat_id, now=now, priority=outbox.URGENT, text=part
            )
        if language not in documents:
            documents[language] = report_doc.build(ctx=ctx, language=language, view=view)
        await outbox.enqueue_document(
            session=session,
            chat_id=chat_id,
            now=now,
            filename=report_doc.filename(incident),
            content=documents[language],
            caption=ctx.renderer.render(language, "handling/document_caption", incident=incident),
            ref=f"inc:{incident.id}:report",
        )
    return list(languages)


async def document(
    *, session: AsyncSession, ctx: AppContext, user_id: int, ref: str, language: str
) -> tuple[Incident, bytes]:
    """An incident's situation report as a Word document, for someone who may see it."""
    incident = await reports.find(session=session, ref=ref)
    if incident is None:
        raise NotFound("incidents.not_found")
    if not await reports.viewable(session=session, ctx=ctx, user_id=user_id, incident=incident):
        raise NotAllowed("incidents.not_allowed")
    report = await q.get_report(session=session, incident_id=incident.id)
    if report is None:
        raise Stale("handling.no_report")
    view = await report_view(session=session, incident=incident, report=report)
    return incident, report_doc.build(ctx=ctx, language=language, view=view)


async def may_declare_over(*, session: AsyncSession, incident_id: int, user_id: int) -> Incident:
    """The incident, if the user may declare its emergency over now (leaders, once resolved)."""
    incident = await _load(session, incident_id)
    leader = await access_q.get_user(session=session, user_id=user_id)
    if not is_leader(leader):
        raise NotAllowed("handling.leaders_only")
    if incident.status == Status.CLOSED:
        raise Stale("incidents.closed")
    if incident.status != Status.RESOLVED:
        raise Stale("handling.not_resolved")
    return incident


async def declare_over(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int, note: str = ""
) -> tuple[Incident, int]:
    """End the emergency: announced to the routed chats and all staff; the incident closes."""
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise Invalid("handling.bad_text", limit=NOTE_LIMIT)
    incident = await may_declare_over(session=session, incident_id=incident_id, user_id=user_id)
    leader = await access_q.get_user(session=session, user_id=user_id)
    now = ctx.now()
    incident.status = Status.CLOSED
    incident.closed_at = now
    await incident_q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="emergency_over",
        actor_id=user_id,
        text=note,
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user_id,
        action="incident.emergency_over",
        target=f"incident:{incident.number}",
    )
    await escalation.stop(session=session, incident_id=incident.id)
    await progress.stop_reminders(session=session, incident_id=incident.id)
    await incident_card.refresh_cards(session=session, ctx=ctx, incident=incident)
    count = await _announce_over(session, ctx, incident, leader, note)
    return incident, count


async def _announce_over(
    session: AsyncSession, ctx: AppContext, incident: Incident, leader: User | None, note: str
) -> int:
    languages = await routing.chat_languages(session=session, incident_id=incident.id)
    everyone = await chats.bound_chat(session=session, purpose=ChatPurpose.ALL_STAFF)
    if everyone is not None:
        languages.setdefault(everyone.id, "zh_CN")
    else:
        await chats.tell_admins(
            session=session,
            ctx=ctx,
            template="chats/missing",
            purpose=ChatPurpose.ALL_STAFF.value,
            summary=ctx.renderer.render("zh_CN", "incidents/summary", incident=incident),
        )
    for chat_id, language in languages.items():
        await outbox.enqueue_message(
            session=session,
            chat_id=chat_id,
            now=ctx.now(),
            priority=outbox.URGENT,
            text=ctx.renderer.render(
                language, "handling/emergency_over", incident=incident, leader=leader, note=note
            ),
        )
    return len(languages)


async def card_context(session: AsyncSession, incident: Incident) -> dict[str, object]:
    """Who resolved the incident and who declared it over, for the card."""
    resolved_by = over_by = None
    over: TimelineEntry | None = None
    if incident.resolved_at is not None:
        report = await q.get_report(session=session, incident_id=incident.id)
        if report is not None:
            resolved_by = await access_q.get_user(session=session, user_id=report.written_by)
    if incident.closed_at is not None:
        for entry in await incident_q.timeline(session=session, incident_id=incident.id):
            if entry.kind == "emergency_over":
                over = entry
        if over is not None and over.actor_id is not None:
            over_by = await access_q.get_user(session=session, user_id=over.actor_id)
    return {"resolved_by": resolved_by, "over_entry": over, "over_by": over_by}
