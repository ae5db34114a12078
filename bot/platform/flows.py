"""One guided-flow engine: a flow is an ordered table of steps; the engine keeps its row.

A flow (the guided report, a warning, closing an incident, a contact...) is declared once, as
data, in its concept's package: its steps in order, each with its question (a template), its
buttons (`Option`s), how a typed answer is read (`typed`, which raises `Invalid` to refuse),
which step follows (which may depend on the answers so far), and whether Back, Skip, Done or
Cancel apply. The engine keeps the person's state in their `conversations` row (saved before
anyone is answered, so a restart resumes at the step), recognises a repeated update, refuses
buttons from an earlier prompt or an earlier flow, and says what to ask next. It knows nothing
of Telegram: `handlers/platform/flows.py` renders its `Outcome`s and sends them.

The state of a flow is a dataclass with `to_data()` / `from_data()`; the engine's own
bookkeeping (this run's id, the steps taken, whether the person is editing from the review,
the last update handled) is kept beside it under the `_flow` key.

Every function here is keyword-only and runs in the caller's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, Protocol, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform.buttons import ButtonData, Text
from bot.platform.errors import Invalid, ServiceError
from storage import platform as q
from storage.models import Conversation

# A text in a language: a function of the language, so flows declared in bot/ hold no text.
Label = Callable[[str], str]
META = "_flow"


class FlowState(Protocol):
    """What a flow's state dataclass offers."""

    def to_data(self) -> dict[str, Any]:
        """The state as JSON."""
        ...

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """The state from JSON."""
        ...


S = TypeVar("S", bound=FlowState)


@dataclass(frozen=True)
class FileRef:
    """A photo or document a person sent."""

    kind: Literal["photo", "document"]
    file_id: str
    unique_id: str
    name: str = ""


@dataclass(frozen=True)
class Answer:
    """What a person sent at a step: text, or one file (an album comes as several)."""

    text: str = ""
    file: FileRef | None = None
    album: str | None = None


@dataclass(frozen=True)
class Option:
    """A button of a step; `stay` keeps the step (a toggle) and shows it again in place.

    `wide` puts the button on a row of its own, whatever the step's columns.
    """

    value: str
    label: Label
    stay: bool = False
    wide: bool = False


@dataclass(frozen=True)
class Note:
    """Something to say while staying at the step (a file was received...)."""

    label: Label


@dataclass(frozen=True)
class Env:
    """What a step's reader may consult: the time, the office's zone, the policy."""

    now: datetime
    ctx: Any  # the AppContext (typed loosely: flows are declared below the context)


@dataclass(frozen=True)
class Step(Generic[S]):
    """One question of a flow.

    `options` are its buttons; `choose` applies a chosen option (raise `Invalid` to refuse);
    `typed` reads a typed answer or a file (raise `Invalid`, or return a `Note` to stay);
    `after` names the next step (default: the next one in the table; None ends at `finish`).
    A `review` step offers Submit and an Edit button for each step in `edits`.
    `intro` is a template sent as a message of its own just before the question (what a
    preview below it is, say), with the same values; it keeps no buttons and is not folded.
    """

    name: str
    question: str
    label: Label
    options: Callable[[S, Env], Sequence[Option]] | None = None
    choose: Callable[[S, str, Env], None] | None = None
    typed: Callable[[S, Answer, Env], Note | None] | None = None
    after: Callable[[S], str | None] | str | None = "next"
    back: bool = True
    skip: Callable[[S], None] | None = None
    done: Callable[[S], None] | None = None
    cancel: bool = True
    review: bool = False
    edits: tuple[str, ...] = ()
    recap: Callable[[S, str, Env], str] | None = None
    want: str = "conversations.want_button"
    submit: Label | None = None
    columns: int = 1
    number: int | None = None
    intro: str | None = None


@dataclass(frozen=True)
class Finished:
    """What finishing a flow produced, for the adapter to render and send.

    `template` None: nothing more to say (a message of the service's own follows, say).
    `toast` answers the button that finished the flow (shown briefly at the top of the chat).
    """

    template: str | None
    values: dict[str, Any] = field(default_factory=dict)
    documents: tuple[tuple[str, bytes, str], ...] = ()  # (file name, content, caption)
    keep_prompt: bool = True  # leave the last prompt's text in place (without buttons)
    toast: Label | None = None


@dataclass(frozen=True)
class Flow(Generic[S]):
    """A guided flow: its steps in order, its state type, and what finishing does."""

    kind: str
    steps: tuple[Step[S], ...]
    state: type[S]
    finish: Callable[[AsyncSession, Any, int, S], Awaitable[Finished]]
    name: Label
    view: Callable[[AsyncSession, Any, S], Awaitable[dict[str, Any]]] | None = None
    resumable: bool = False
    mark: Label | None = None  # put before every folded answer (a drill's mark)
    # A mark that depends on the answers (a flow about a drill's incident); `mark` comes first.
    marked: Callable[[S], Label | None] | None = None
    on_expire: Callable[[AsyncSession, Any, Conversation], Awaitable[None]] | None = None
    # The step to start at, from the starting state (a menu chose it); default: the first.
    first: Callable[[S], str] | None = None

    def step(self, name: str) -> Step[S]:
        """A step by name."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def following(self, step: Step[S], state: S) -> str | None:
        """The step after `step` for these answers (None: the flow is complete)."""
        after = step.after
        if callable(after):
            return after(state)
        if after == "next":
            index = self.steps.index(step)
            return self.steps[index + 1].name if index + 1 < len(self.steps) else None
        return after

    def mark_for(self, state: S | None) -> Label | None:
        """The mark put before this run's folded answers, if any."""
        if self.mark is not None:
            return self.mark
        if self.marked is not None and state is not None:
            return self.marked(state)
        return None

    def number(self, step: Step[S]) -> int:
        """The step's number as shown to the person (its place in the table, from 1)."""
        return step.number if step.number is not None else self.steps.index(step) + 1


@dataclass(frozen=True)
class FlowPress(ButtonData, prefix="f"):
    """A button of a flow's prompt: this run, this step, what was pressed."""

    run: Annotated[str, Text(8)]
    step: Annotated[str, Text(16)]
    action: Literal["pick", "back", "skip", "done", "cancel", "edit", "submit"]
    value: Annotated[str, Text(24)] | None = None


@dataclass(frozen=True)
class FlowResume(ButtonData, prefix="fr"):
    """Resume or start over a flow left unfinished."""

    kind: Annotated[str, Text(16)]
    action: Literal["resume", "restart"]


class Flows:
    """Every flow the bot runs, by kind (built once at start-up)."""

    def __init__(self, flows: Sequence[Flow[Any]] = ()) -> None:
        self._flows: dict[str, Flow[Any]] = {}
        for flow in flows:
            self.add(flow)

    def add(self, flow: Flow[Any]) -> None:
        """Declare a flow."""
        if flow.kind in self._flows:
            raise ValueError(f"flow {flow.kind!r} declared twice")
        self._flows[flow.kind] = flow

    def get(self, kind: str) -> Flow[Any] | None:
        """A flow by kind."""
        return self._flows.get(kind)

    def __iter__(self) -> Any:
        return iter(self._flows.values())


OutcomeKind = Literal[
    "ask", "redraw", "rejected", "noted", "stale", "cancelled", "finished", "busy", "none"
]


@dataclass
class Fold:
    """The prompt a person just answered, to be folded into one line without buttons."""

    message_id: int | None
    label: Label
    answer: str | Label | None  # None: keep the prompt's text, drop its buttons
    mark: Literal["done", "back", "edit", "cancel"] = "done"


@dataclass
class Outcome:
    """What the engine decided; the adapter renders it."""

    kind: OutcomeKind
    flow: Flow[Any] | None = None
    step: Step[Any] | None = None
    state: Any = None
    run: str = ""
    view: dict[str, Any] = field(default_factory=dict)
    fold: Fold | None = None
    error: ServiceError | None = None
    note: Note | None = None
    finished: Finished | None = None
    editing: bool = False
    can_back: bool = False


# ---- the row -----------------------------------------------------------------------------------


def _meta(convo: Conversation) -> dict[str, Any]:
    meta = convo.data.get(META)
    return dict(meta) if isinstance(meta, dict) else {}


def handled_before(convo: Conversation | None, update_id: int) -> bool:
    """Whether an update was handled already: Telegram sends it again after a crash.

    A person's updates are handled in order (different people's at once), so any update of
    theirs no later than the last one that moved their flow on was handled before.
    """
    if convo is None:
        return False
    return int(_meta(convo).get("handled", 0)) >= update_id


async def current(*, session: AsyncSession, user_id: int) -> Conversation | None:
    """The person's flow in progress, if any."""
    return await q.get_conversation(session=session, user_id=user_id)


async def _save(
    session: AsyncSession,
    *,
    now: datetime,
    user_id: int,
    flow: Flow[Any],
    step: str,
    state: Any,
    meta: dict[str, Any],
) -> None:
    await q.save_conversation(
        session=session,
        user_id=user_id,
        kind=flow.kind,
        step=step,
        data={**state.to_data(), META: meta},
        now=now,
    )


async def end(*, session: AsyncSession, user_id: int) -> bool:
    """End a person's flow, whatever it is (finished, cancelled, or access taken away)."""
    return await q.delete_conversation(session=session, user_id=user_id)


async def remember_prompt(
    *, session: AsyncSession, user_id: int, run: str, message_id: int
) -> None:
    """Note the message that asks the current step, so answering it can fold it."""
    convo = await q.get_conversation(session=session, user_id=user_id)
    if convo is not None and _meta(convo).get("run") == run:
        convo.prompt_message_id = message_id


async def mark_handled(*, session: AsyncSession, user_id: int, update_id: int) -> None:
    """Remember the last update a flow answered, so a redelivered one is asked again."""
    convo = await q.get_conversation(session=session, user_id=user_id)
    if convo is not None:
        convo.data = {**convo.data, META: {**_meta(convo), "handled": update_id}}


# ---- the engine --------------------------------------------------------------------------------


class Engine:
    """Runs the declared flows against the conversations table."""

    def __init__(self, flows: Flows) -> None:
        self.flows = flows

    def flow_of(self, convo: Conversation | None) -> Flow[Any] | None:
        """The flow a row belongs to."""
        return self.flows.get(convo.kind) if convo is not None else None

    async def _ask(
        self,
        session: AsyncSession,
        env: Env,
        *,
        user_id: int,
        flow: Flow[Any],
        step_name: str,
        state: Any,
        meta: dict[str, Any],
        update_id: int | None,
        fold: Fold | None = None,
        kind: OutcomeKind = "ask",
    ) -> Outcome:
        path = list(meta.get("path", []))
        if not path or path[-1] != step_name:
            path.append(step_name)
        meta = {**meta, "path": path}
        if update_id is not None:
            meta["handled"] = update_id
        await _save(
            session, now=env.now, user_id=user_id, flow=flow, step=step_name, state=state, meta=meta
        )
        return await self._outcome(session, env, flow, step_name, state, meta, kind, fold=fold)

    async def _outcome(
        self,
        session: AsyncSession,
        env: Env,
        flow: Flow[Any],
        step_name: str,
        state: Any,
        meta: dict[str, Any],
        kind: OutcomeKind,
        **extra: Any,
    ) -> Outcome:
        view = await flow.view(session, env.ctx, state) if flow.view is not None else {}
        return Outcome(
            kind=kind,
            flow=flow,
            step=flow.step(step_name),
            state=state,
            run=str(meta.get("run", "")),
            view=view,
            editing=bool(meta.get("editing")),
            can_back=len(meta.get("path", [])) > 1,
            **extra,
        )

    async def start(
        self,
        *,
        session: AsyncSession,
        env: Env,
        user_id: int,
        kind: str,
        state: Any,
        update_id: int | None = None,
        replace: bool = False,
    ) -> Outcome:
        """Start a flow at its first step (a resumable one offers to resume one left open)."""
        flow = self.flows.get(kind)
        if flow is None:
            raise KeyError(kind)
        existing = await current(session=session, user_id=user_id)
        if not replace and flow.resumable and existing is not None:
            other = self.flow_of(existing)
            if other is not None and other.resumable:
                return Outcome(kind="busy", flow=other, state=existing)
        meta = {"run": secrets.token_hex(3), "path": []}
        first = flow.first(state) if flow.first is not None else flow.steps[0].name
        return await self._ask(
            session,
            env,
            user_id=user_id,
            flow=flow,
            step_name=flow.step(first).name,
            state=state,
            meta=meta,
            update_id=update_id,
        )

    async def again(self, *, session: AsyncSession, env: Env, user_id: int) -> Outcome:
        """The current step's question again (resume, a repeated update, an edited message)."""
        convo = await current(session=session, user_id=user_id)
        flow = self.flow_of(convo)
        if convo is None or flow is None:
            return Outcome(kind="none")
        state = flow.state.from_data(convo.data)
        return await self._outcome(session, env, flow, convo.step, state, _meta(convo), "ask")

    async def press(
        self, *, session: AsyncSession, env: Env, user_id: int, press: FlowPress, update_id: int
    ) -> Outcome:
        """A button of a flow's prompt; a button of an earlier prompt or run is stale."""
        convo = await current(session=session, user_id=user_id)
        flow = self.flow_of(convo)
        if convo is None or flow is None:
            return Outcome(kind="stale")
        meta = _meta(convo)
        if meta.get("run") != press.run or convo.step != press.step:
            return Outcome(kind="stale")
        run = _Run(self, session, env, user_id, flow, meta, update_id, convo.prompt_message_id)
        step = flow.step(convo.step)
        state = flow.state.from_data(convo.data)
        try:
            return await run.press(step, state, press)
        except Invalid as exc:
            return await self._outcome(
                session, env, flow, step.name, state, meta, "rejected", error=exc
            )

    async def answer(
        self, *, session: AsyncSession, env: Env, user_id: int, answer: Answer, update_id: int
    ) -> Outcome:
        """A typed answer, a photo or a file at the current step."""
        convo = await current(session=session, user_id=user_id)
        flow = self.flow_of(convo)
        if convo is None or flow is None:
            return Outcome(kind="none")
        meta = _meta(convo)
        step = flow.step(convo.step)
        state = flow.state.from_data(convo.data)
        try:
            if step.typed is None:
                raise Invalid(step.want)
            note = step.typed(state, answer, env)
        except Invalid as exc:
            await mark_handled(session=session, user_id=user_id, update_id=update_id)
            return await self._outcome(
                session, env, flow, step.name, state, meta, "rejected", error=exc
            )
        if note is not None:
            await _save(
                session,
                now=env.now,
                user_id=user_id,
                flow=flow,
                step=step.name,
                state=state,
                meta={**meta, "handled": update_id},
            )
            return await self._outcome(
                session, env, flow, step.name, state, meta, "noted", note=note
            )
        run = _Run(self, session, env, user_id, flow, meta, update_id, convo.prompt_message_id)
        return await run.advance(step, state, answer.text.strip())

    async def cancel(self, *, session: AsyncSession, user_id: int) -> Outcome:
        """/cancel: end the flow in progress, whichever it is."""
        convo = await current(session=session, user_id=user_id)
        flow = self.flow_of(convo)
        if convo is None or flow is None:
            return Outcome(kind="none")
        await end(session=session, user_id=user_id)
        step = flow.step(convo.step)
        state = flow.state.from_data(convo.data)
        fold = Fold(convo.prompt_message_id, step.label, None, "done")
        return Outcome(kind="cancelled", flow=flow, state=state, fold=fold)


@dataclass
class _Run:
    """One call into the engine for one person's flow: the pieces every step change needs."""

    engine: Engine
    session: AsyncSession
    env: Env
    user_id: int
    flow: Flow[Any]
    meta: dict[str, Any]
    update_id: int | None
    prompt: int | None

    async def ask(self, step_name: str, state: Any, fold: Fold | None) -> Outcome:
        return await self.engine._ask(
            self.session,
            self.env,
            user_id=self.user_id,
            flow=self.flow,
            step_name=step_name,
            state=state,
            meta=self.meta,
            update_id=self.update_id,
            fold=fold,
        )

    async def press(self, step: Step[Any], state: Any, press: FlowPress) -> Outcome:
        action = press.action
        if action == "cancel" and step.cancel:
            await end(session=self.session, user_id=self.user_id)
            fold = Fold(self.prompt, step.label, None, "cancel")
            return Outcome(kind="cancelled", flow=self.flow, state=state, fold=fold)
        if action == "back" and step.back:
            path = list(self.meta.get("path", []))
            if len(path) < 2:
                return Outcome(kind="stale")
            path.pop()
            previous = path.pop()
            self.meta = {**self.meta, "path": path, "editing": False}
            return await self.ask(previous, state, Fold(self.prompt, step.label, None, "back"))
        if action == "edit" and step.review and press.value in step.edits:
            assert press.value is not None
            self.meta = {**self.meta, "editing": True, "review": step.name}
            edited = self.flow.step(press.value)
            return await self.ask(edited.name, state, Fold(self.prompt, edited.label, None, "edit"))
        if action == "submit" and step.review:
            return await self.finish(step, state, None)
        if action == "skip" and step.skip is not None:
            step.skip(state)
            return await self.advance(step, state, None)
        if action == "done" and step.done is not None:
            step.done(state)
            return await self.advance(step, state, None)
        if action == "pick" and step.options is not None and step.choose is not None:
            options = step.options(state, self.env)
            chosen = next((o for o in options if o.value == press.value), None)
            if chosen is None:
                return Outcome(kind="stale")
            step.choose(state, chosen.value, self.env)
            if not chosen.stay:
                return await self.advance(step, state, chosen.label)
            await _save(
                self.session,
                now=self.env.now,
                user_id=self.user_id,
                flow=self.flow,
                step=step.name,
                state=state,
                meta={**self.meta, "handled": self.update_id},
            )
            return await self.engine._outcome(
                self.session, self.env, self.flow, step.name, state, self.meta, "redraw"
            )
        return Outcome(kind="stale")

    async def advance(self, step: Step[Any], state: Any, answered: str | Label | None) -> Outcome:
        """The step is answered: fold its prompt and ask the next one (or finish)."""
        recap = step.recap
        shown = _bound(recap, state, self.env) if recap is not None else answered
        fold = Fold(self.prompt, step.label, shown, "done")
        following = self.flow.following(step, state)
        review = self.meta.get("review")
        if self.meta.get("editing") and review:
            review_step = self.flow.step(review)
            if following is None or following in review_step.edits or following == review:
                following = review
                self.meta = {**self.meta, "editing": False}
        if following is None:
            return await self.finish(step, state, fold)
        return await self.ask(following, state, fold)

    async def finish(self, step: Step[Any], state: Any, fold: Fold | None) -> Outcome:
        """Run the flow's finishing service; the row ends in the same transaction."""
        finished = await self.flow.finish(self.session, self.env.ctx, self.user_id, state)
        await end(session=self.session, user_id=self.user_id)
        if fold is None:
            fold = Fold(self.prompt, step.label, None, "done")
        return Outcome(kind="finished", flow=self.flow, state=state, fold=fold, finished=finished)


def _bound(recap: Callable[[Any, str, Env], str], state: Any, env: Env) -> Label:
    return lambda language: recap(state, language, env)


async def sweep(
    *,
    session: AsyncSession,
    engine: Engine,
    ctx: Any,
    now: datetime,
    remind_after: timedelta,
    expire_after: timedelta,
) -> tuple[list[Conversation], list[Conversation]]:
    """Flows left untouched: mark those due a reminder, end those due to expire.

    Returns (reminded, expired) for the caller to tell each person.
    """
    remind, expire = await q.stale_conversations(
        session=session, remind_before=now - remind_after, expire_before=now - expire_after
    )
    expired = list(expire)
    for convo in expired:
        flow = engine.flow_of(convo)
        if flow is not None and flow.on_expire is not None:
            await flow.on_expire(session, ctx, convo)
        await end(session=session, user_id=convo.user_id)
    gone = {c.user_id for c in expired}
    reminded = [c for c in remind if c.user_id not in gone]
    for convo in reminded:
        convo.reminded_at = now
    return reminded, expired
