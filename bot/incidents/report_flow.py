"""The guided incident report as a flow (R3, R1): its steps, their limits, and submitting it.

Category → (sub-type) → level → when → where → what → source (or Skip) → photos and files
(Done) → review (Submit, or a field's Edit button). The limits a typed answer must meet live
here; `reports.submit` checks them again, whatever brought the draft.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents import reports
from bot.incidents.model import SUBTYPES, Category, Draft
from bot.incidents.sources import parse_source
from bot.platform.errors import Invalid
from bot.platform.flows import Answer, Env, Finished, Flow, Label, Note, Option, Step
from bot.platform.roles import Level
from bot.platform.timeparse import parse_when
from messages import incidents as incident_texts
from messages import report as texts
from messages.common import level_label
from messages.conversations import kind_label
from messages.i18n import gettext_for

WHERE_LIMIT = reports.WHERE_LIMIT
WHAT_LIMIT = reports.WHAT_LIMIT
MAX_FILES = reports.MAX_FILES
WHEN_CHOICES = {"now": "exact", "hour": "within_hour", "today": "today"}


def _label(message: str) -> Label:
    return partial(gettext_for, message=message)


def _category_label(category: str, subtype: str | None = None) -> Label:
    return partial(incident_texts.category_label, category=category, subtype=subtype)


def _categories(draft: Draft, env: Env) -> list[Option]:
    return [Option(c.value, _category_label(c.value)) for c in Category]


def _choose_category(draft: Draft, value: str, env: Env) -> None:
    draft.category = Category(value).value
    draft.subtype = None


def _subtypes(draft: Draft, env: Env) -> list[Option]:
    category = draft.category or ""
    return [Option(s, _category_label(category, s)) for s in SUBTYPES.get(category, ())]


def _choose_subtype(draft: Draft, value: str, env: Env) -> None:
    draft.subtype = value


def _levels(draft: Draft, env: Env) -> list[Option]:
    return [Option(lv.value, partial(texts.level_button, level=lv.value)) for lv in Level]


def _choose_level(draft: Draft, value: str, env: Env) -> None:
    draft.level = Level(value).value


def _whens(draft: Draft, env: Env) -> list[Option]:
    return [
        Option("now", _label(texts.WHEN_NOW)),
        Option("hour", _label(texts.WHEN_HOUR)),
        Option("today", _label(texts.WHEN_TODAY)),
    ]


def _choose_when(draft: Draft, value: str, env: Env) -> None:
    draft.occurred_at = env.now.isoformat()
    draft.precision = WHEN_CHOICES[value]


def _words_only(answer: Answer) -> str:
    if answer.file is not None:
        raise Invalid("report.photo_later")
    return answer.text.strip()


def _type_when(draft: Draft, answer: Answer, env: Env) -> None:
    moment = parse_when(_words_only(answer), now=env.now, tz=env.ctx.policy.tz)
    draft.occurred_at = moment.isoformat()
    draft.precision = "exact"


def _type_where(draft: Draft, answer: Answer, env: Env) -> None:
    draft.location = reports.check_where(_words_only(answer))


def _type_what(draft: Draft, answer: Answer, env: Env) -> None:
    draft.description = reports.check_what(_words_only(answer))


def _type_source(draft: Draft, answer: Answer, env: Env) -> None:
    draft.source, draft.source_kind = parse_source(_words_only(answer))
    draft.source_done = True


def _skip_source(draft: Draft) -> None:
    draft.source, draft.source_kind, draft.source_done = None, None, True


def _add_file(draft: Draft, answer: Answer, env: Env) -> Note:
    if answer.file is None:
        raise Invalid("report.want_files")
    if len(draft.files) >= MAX_FILES:
        raise Invalid("report.too_many_files")
    draft.files.append(
        {
            "kind": answer.file.kind,
            "file_id": answer.file.file_id,
            "file_unique_id": answer.file.unique_id,
            "name": answer.file.name,
        }
    )
    count = len(draft.files)
    return Note(lambda language: gettext_for(language, texts.FILE_RECEIVED) % {"count": count})


def _files_done(draft: Draft) -> None:
    draft.files_done = True


def _recap_category(draft: Draft, language: str, env: Env) -> str:
    return incident_texts.category_label(language, draft.category or "", draft.subtype)


def _recap_level(draft: Draft, language: str, env: Env) -> str:
    return level_label(language, draft.level or "")


def _recap_when(draft: Draft, language: str, env: Env) -> str:
    moment = env.ctx.renderer.format_datetime(draft.occurred)
    return texts.when_text(language, moment, draft.precision)


def _recap_source(draft: Draft, language: str, env: Env) -> str:
    return draft.source or "—"


def _recap_files(draft: Draft, language: str, env: Env) -> str:
    return str(len(draft.files))


def _after_category(draft: Draft) -> str:
    return "subtype" if draft.category in SUBTYPES else "level"


FIELD = {name: _label(message) for name, message in texts.FIELDS.items()}

STEPS: tuple[Step[Draft], ...] = (
    Step(
        "category",
        "report/category",
        FIELD["category"],
        options=_categories,
        choose=_choose_category,
        after=_after_category,
        recap=_recap_category,
        columns=2,
    ),
    Step(
        "subtype",
        "report/subtype",
        FIELD["category"],
        options=_subtypes,
        choose=_choose_subtype,
        after="level",
        recap=_recap_category,
        number=1,
    ),
    Step(
        "level",
        "report/level",
        FIELD["level"],
        options=_levels,
        choose=_choose_level,
        recap=_recap_level,
        columns=3,
        number=2,
    ),
    Step(
        "when",
        "report/when",
        FIELD["when"],
        options=_whens,
        choose=_choose_when,
        typed=_type_when,
        recap=_recap_when,
        number=3,
    ),
    Step("where", "report/where", FIELD["where"], typed=_type_where, number=4),
    Step("what", "report/what", FIELD["what"], typed=_type_what, number=5),
    Step(
        "source",
        "report/source",
        FIELD["source"],
        typed=_type_source,
        skip=_skip_source,
        recap=_recap_source,
        number=6,
    ),
    Step(
        "files",
        "report/files",
        FIELD["files"],
        typed=_add_file,
        done=_files_done,
        recap=_recap_files,
        number=7,
    ),
    Step(
        "review",
        "report/review",
        FIELD["category"],
        review=True,
        edits=("category", "level", "when", "where", "what", "source", "files"),
        submit=_label(texts.SUBMIT),
        back=False,
        number=8,
    ),
)


async def _submit(session: AsyncSession, ctx: Any, user_id: int, draft: Draft) -> Finished:
    submitted = await reports.submit(session=session, ctx=ctx, reporter_id=user_id, draft=draft)
    return Finished(
        "report/submitted",
        {
            "incident": submitted.incident,
            "notified": submitted.notified,
            "missing": submitted.missing,
        },
    )


REPORT: Flow[Draft] = Flow(
    kind="report",
    steps=STEPS,
    state=Draft,
    finish=_submit,
    name=lambda language: kind_label(language, "report"),
    resumable=True,
)
DRILL: Flow[Draft] = Flow(
    kind="drill",
    steps=STEPS,
    state=Draft,
    finish=_submit,
    name=lambda language: kind_label(language, "drill"),
    resumable=True,
    mark=lambda language: "🎯 " + gettext_for(language, incident_texts.DRILL_MARK),
)
