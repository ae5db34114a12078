"""The situation report as a Word document an office can file (R8)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from bot.platform.context import AppContext
from messages import handling as texts
from messages.common import level_label
from messages.i18n import gettext_for
from messages.incidents import category_label, timeline_label
from storage.models import Incident, SituationReport, TimelineEntry, User

FONT = "SimSun"
# Characters XML 1.0 does not allow; a pasted control character must not break the file.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class ReportView:
    """An incident with its report, timeline and the people they name."""

    incident: Incident
    report: SituationReport
    timeline: list[TimelineEntry]
    names: dict[int, User]

    def name(self, user_id: int | None) -> str:
        """A person's name, or their id when unknown."""
        if user_id is None:
            return ""
        user = self.names.get(user_id)
        return user.name if user is not None else str(user_id)

    def template_values(self) -> dict[str, Any]:
        """The values the report's message template reads."""
        return {
            "incident": self.incident,
            "report": self.report,
            "timeline": self.timeline,
            "names": self.names,
        }


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def filename(incident: Incident) -> str:
    """The document's file name."""
    kind = "drill-report" if incident.is_drill else "situation-report"
    return f"{kind}-{incident.number}.docx"


def build(*, ctx: AppContext, language: str, view: ReportView) -> bytes:
    """The Word document: office header, number, the plan's fields, the timeline as a table."""
    # python-docx is imported when a document is first built, not at start (memory).
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    incident, report = view.incident, view.report

    def t(message: str) -> str:
        return gettext_for(language, message)

    when = ctx.renderer.format_datetime
    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(11)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)

    office = ctx.policy.situation_report.header or ctx.policy.office_name
    drill = t(texts.DOC_TITLE_DRILL) if incident.is_drill else ""
    header = document.sections[0].header.paragraphs[0]
    header.text = _clean(" · ".join(part for part in (office, incident.number, drill) if part))
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER

    heading = document.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(_clean(office))
    run.bold = True
    run.font.size = Pt(14)
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(t(texts.DOC_TITLE_DRILL if incident.is_drill else texts.DOC_TITLE))
    run.bold = True
    run.font.size = Pt(18)
    if incident.is_drill:
        note = document.add_paragraph()
        note.alignment = WD_ALIGN_PARAGRAPH.CENTER
        note.add_run(t(texts.DOC_DRILL_NOTE)).bold = True

    fields = [
        ("number", incident.number),
        ("category", category_label(language, incident.category, incident.subtype)),
        ("level", level_label(language, incident.level)),
        ("occurred", when(incident.occurred_at)),
        ("place", incident.location),
        ("description", incident.description),
        ("reported", f"{view.name(incident.reporter_id)} · {when(incident.reported_at)}"),
        ("handler", view.name(incident.handler_id or incident.acknowledged_by)),
        ("consequences", report.consequences),
        ("process", report.process),
        ("result", report.result),
        ("ended", when(report.ended_at)),
        ("recommendations", report.recommendations),
        ("written", f"{view.name(report.written_by)} · {when(report.written_at)}"),
    ]
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, value in fields:
        cells = table.add_row().cells
        cells[0].text = t(texts.DOC_FIELDS[key])
        cells[0].paragraphs[0].runs[0].bold = True
        cells[1].text = _clean(value)

    document.add_paragraph()
    document.add_paragraph(t(texts.DOC_TIMELINE)).runs[0].bold = True
    events = document.add_table(rows=1, cols=len(texts.DOC_COLUMNS))
    events.style = "Table Grid"
    for cell, column in zip(events.rows[0].cells, texts.DOC_COLUMNS, strict=True):
        cell.text = t(column)
        cell.paragraphs[0].runs[0].bold = True
    for entry in view.timeline:
        cells = events.add_row().cells
        cells[0].text = when(entry.at)
        cells[1].text = timeline_label(language, entry.kind)
        cells[2].text = _clean(view.name(entry.actor_id))
        cells[3].text = _clean(texts.timeline_details(language, entry))

    document.core_properties.title = _clean(f"{t(texts.DOC_TITLE)} {incident.number}")
    document.core_properties.author = _clean(office)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
