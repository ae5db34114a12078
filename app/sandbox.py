"""The sandbox: the emulator with a ready office, the real bot on it, and the web chat."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.build import AnyApplication, build_application, build_context, on_start, on_stop
from bot.access import audit, chats, contacts
from bot.platform.config import DutyPolicy, PatrolPolicy, Policy, load_policy, load_settings
from bot.platform.context import AppContext
from bot.platform.roles import ChatPurpose, Position, Role, UserStatus
from emulator.core import Emulator
from emulator.models import Chat, User
from emulator.server import EmulatorServer
from storage import access as access_q
from storage.db import Database

# A well-formed token the emulator accepts; it means nothing to Telegram.
TOKEN = "7000000001:SANDBOX-nothing-leaves-this-machine"
BOT_USERNAME = "incident_sandbox_bot"
BOT_NAME = "应急响应助手"
DEFAULT_DATA_DIR = Path("data/sandbox")
DATABASE_FILE = "incident-bot.sqlite3"
# How many times the sandbox started on this data: each run numbers its messages afresh.
RUNS_FILE = "sandbox-runs"
MESSAGE_IDS_PER_RUN = 100_000
OFFICE = "区信息化办公室"


class SandboxError(Exception):
    """The sandbox cannot start (for example, its port is taken)."""


@dataclass(frozen=True)
class Persona:
    """One person of the sandbox's office, as the web chat's persona switcher shows them."""

    key: str
    user_id: int
    name: str
    username: str
    note: str
    roles: tuple[Role, ...]
    language: str = "zh"
    position: Position | None = None
    mobile: str = ""
    office_phone: str = ""


@dataclass(frozen=True)
class GroupPlan:
    """A group chat of the office and the purpose it is bound to (the admin creates it)."""

    purpose: ChatPurpose
    title: str
    members: tuple[str, ...]


CAST: tuple[Persona, ...] = (
    Persona("admin", 100_000_001, "王明", "wang_ming", "管理员 · Admin", (Role.ADMIN,)),
    Persona(
        "leader",
        100_000_002,
        "赵建国",
        "zhao_jianguo",
        "组长 · Leader",
        (Role.LEADER,),
        position=Position.LEADER,
        mobile="13800000002",
        office_phone="010-65550002",
    ),
    Persona(
        "deputy",
        100_000_003,
        "钱丽华",
        "qian_lihua",
        "副组长 · Deputy",
        (Role.LEADER,),
        position=Position.DEPUTY,
        mobile="13800000003",
        office_phone="010-65550003",
    ),
    Persona(
        "liaison",
        100_000_004,
        "孙伟",
        "sun_wei",
        "联络员 · Liaison",
        (Role.LEADER,),
        position=Position.LIAISON,
        mobile="13800000004",
        office_phone="010-65550004",
    ),
    Persona(
        "tech_lead",
        100_000_005,
        "周涛",
        "zhou_tao",
        "技术应用中心负责人 · Tech lead",
        (Role.TECH_CENTER,),
        position=Position.TECH_LEAD,
        mobile="13800000005",
        office_phone="010-65550005",
    ),
    Persona(
        "tech",
        100_000_006,
        "吴敏",
        "wu_min",
        "技术应用中心 · Tech center",
        (Role.TECH_CENTER,),
        position=Position.TECH_RESPONSIBLE,
        mobile="13800000006",
    ),
    Persona("duty_1", 100_000_007, "郑强", "zheng_qiang", "值班人员 · Duty officer", (Role.DUTY,)),
    Persona("duty_2", 100_000_008, "冯静", "feng_jing", "值班人员 · Duty officer", (Role.DUTY,)),
    Persona("staff_1", 100_000_009, "陈晨", "chen_chen", "员工 · Staff", (Role.STAFF,)),
    Persona("staff_2", 100_000_010, "褚洁", "chu_jie", "员工 · Staff", (Role.STAFF,)),
    Persona(
        "staff_3",
        100_000_011,
        "卫东",
        "wei_dong",
        "员工 · Staff (English)",
        (Role.STAFF,),
        language="en",
    ),
)

GROUPS: tuple[GroupPlan, ...] = (
    GroupPlan(ChatPurpose.LEADERSHIP, "应急管理领导小组", ("admin", "leader", "deputy", "liaison")),
    GroupPlan(
        ChatPurpose.TECH_CENTER,
        "技术应用中心",
        ("admin", "tech_lead", "tech", "duty_1", "duty_2"),
    ),
    GroupPlan(ChatPurpose.ALL_STAFF, "全体人员", tuple(p.key for p in CAST)),
)

# The duty officers in rotation order (R11); the duty roster feature seeds its roster from this.
DUTY_ROTATION: tuple[str, ...] = ("duty_1", "duty_2")


# What the sandbox office patrols when the policy file says nothing about patrols.
SANDBOX_PATROLS = [
    {
        "key": "daily",
        "name": "日常巡查",
        "checklist": ["防火墙与入侵检测告警", "门户网站完整性", "数据备份", "机房电源与温度"],
        "location": "技术应用中心机房",
        "times": ["09:00", "16:00"],
        "days": "all",
    },
    {
        "key": "spot",
        "name": "不定期抽查",
        "checklist": ["门户网站完整性", "异常登录与账号"],
        "irregular": {"count": 2, "start": "10:00", "end": "17:00"},
        "days": "all",
    },
]


def with_sandbox_rota(policy: Policy) -> Policy:
    """The policy plus the cast's daily duty rotation and patrols, unless it has its own."""
    update: dict[str, object] = {}
    if not policy.duty.officers:
        officers: list[int | str] = [persona(key).user_id for key in DUTY_ROTATION]
        update["duty"] = DutyPolicy(
            officers=officers, shift="day", handover="09:00", start=date(2026, 1, 1)
        )
    if not policy.patrols.kinds:
        update["patrols"] = PatrolPolicy.model_validate(
            {**policy.patrols.model_dump(), "kinds": SANDBOX_PATROLS}
        )
    return policy.model_copy(update=update) if update else policy


def persona(key: str) -> Persona:
    """A member of the cast by key."""
    return next(p for p in CAST if p.key == key)


def database_url(data_dir: Path) -> str:
    """The sandbox's own SQLite database inside its data folder."""
    return f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}"


def reset(data_dir: Path) -> list[Path]:
    """Delete the sandbox's database and run count (and only those); returns what was removed."""
    removed = []
    for path in [*sorted(data_dir.glob(f"{DATABASE_FILE}*")), data_dir / RUNS_FILE]:
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def next_run(data_dir: Path) -> int:
    """Count this start; the emulator's chat history lives in memory, the database does not."""
    path = data_dir / RUNS_FILE
    try:
        runs = int(path.read_text(encoding="ascii").strip() or 0)
    except (FileNotFoundError, ValueError):
        runs = 0
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{runs + 1}\n", encoding="ascii")
    return runs


# ---------------------------------------------------------------------- the world


def build_world(emulator: Emulator) -> tuple[dict[str, User], dict[ChatPurpose, Chat]]:
    """The cast as emulator users, and the office's groups with the bot in each."""
    users = {
        p.key: emulator.create_user(
            p.name,
            username=p.username,
            language_code="zh-hans" if p.language == "zh" else p.language,
            user_id=p.user_id,
            note=p.note,
        )
        for p in CAST
    }
    groups = {
        plan.purpose: emulator.create_group(
            plan.title, [users[key] for key in plan.members], creator=users["admin"]
        )
        for plan in GROUPS
    }
    return users, groups


# ---------------------------------------------------------------------- the bot's database


async def seed_office(
    *, session: AsyncSession, ctx: AppContext, groups: dict[ChatPurpose, Chat]
) -> None:
    """Give the bot its office: people with roles, the contacts card, bound groups, duty."""
    admin_id = persona("admin").user_id
    await _seed_people(session=session, ctx=ctx)
    await _seed_duty(session=session, ctx=ctx)
    await _seed_contacts(session=session, ctx=ctx, admin_id=admin_id)
    for purpose, chat in groups.items():
        bound = await access_q.chat_for_purpose(session=session, purpose=purpose)
        if bound is None or bound.id != chat.id:
            await chats.bind(
                session=session,
                ctx=ctx,
                admin_id=admin_id,
                chat_id=chat.id,
                title=chat.title or "",
                chat_type=chat.type,
                purpose=purpose.value,
            )


async def _seed_people(*, session: AsyncSession, ctx: AppContext) -> None:
    """Register the cast as approved users (people already known keep their changes)."""
    now = ctx.now()
    admin_id = persona("admin").user_id
    for p in CAST:
        if await access_q.get_user(session=session, user_id=p.user_id) is not None:
            continue
        user = await access_q.add_user(
            session=session,
            user_id=p.user_id,
            name=p.name,
            username=p.username,
            language="zh_CN" if p.language == "zh" else p.language,
            status=UserStatus.ACTIVE,
            now=now,
        )
        user.approved_at = now
        user.approved_by = admin_id
        await access_q.set_roles(session=session, user=user, roles=[r.value for r in p.roles])
        await audit.record(
            session=session,
            now=now,
            actor_id=admin_id,
            action="sandbox.user_seeded",
            target=f"user:{p.user_id}",
            roles=[r.value for r in p.roles],
        )


async def _seed_duty(*, session: AsyncSession, ctx: AppContext) -> None:
    """Put the rotation's officers on duty (R11)."""
    # The rotation itself comes from with_sandbox_rota; officers need the duty role too.
    for key in DUTY_ROTATION:
        user = await access_q.get_user(session=session, user_id=persona(key).user_id)
        if user is not None and Role.DUTY not in user.role_names:
            roles = [*user.role_names, Role.DUTY]
            await access_q.set_roles(session=session, user=user, roles=roles)


async def _seed_contacts(*, session: AsyncSession, ctx: AppContext, admin_id: int) -> None:
    """Fill an empty contacts card (R2) with the leadership group and the tech center."""
    if await access_q.count_contacts(session=session):
        return
    for p in CAST:
        if p.position is None:
            continue
        await contacts.add(
            session=session,
            ctx=ctx,
            admin_id=admin_id,
            position=p.position,
            name=p.name,
            office_phone=p.office_phone,
            mobile=p.mobile,
            title=p.note.split(" · ")[0],
            area=OFFICE,
            telegram_id=p.user_id,
        )


# ---------------------------------------------------------------------- running it


@dataclass
class Sandbox:
    """The emulator, its web chat and the real bot in one event loop."""

    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = 8080
    policy: Policy | None = None
    database: str | None = None  # a database URL instead of the data folder's SQLite file
    emulator: Emulator = field(init=False)
    server: EmulatorServer = field(init=False)
    users: dict[str, User] = field(init=False, default_factory=dict)
    groups: dict[ChatPurpose, Chat] = field(init=False, default_factory=dict)
    ctx: AppContext | None = field(init=False, default=None)
    app: AnyApplication | None = field(init=False, default=None)

    @property
    def url(self) -> str:
        """Where the web chat is (loopback when the server listens on every interface)."""
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.port}/"

    async def start(self) -> None:
        """Serve the emulator, seed the office, start the bot and open every private chat."""
        # The bot's database remembers message ids of earlier runs (cards it may edit, report
        # prompts): a new run numbers its messages past them, so an old id finds nothing.
        first_message_id = next_run(self.data_dir) * MESSAGE_IDS_PER_RUN + 1
        self.emulator = Emulator(
            bot_username=BOT_USERNAME, bot_first_name=BOT_NAME, first_message_id=first_message_id
        )
        # Conversations remember the last update they handled: update ids go on growing too.
        self.emulator.register_bot(TOKEN).next_update_id = first_message_id
        self.users, self.groups = build_world(self.emulator)
        self.server = EmulatorServer(self.emulator, host=self.host, port=self.port)
        try:
            await self.server.start()
        except OSError as exc:
            raise SandboxError(
                f"cannot serve the web chat on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        try:
            await self._start_bot()
        except BaseException:
            await self.stop()
            raise
        # The cast opens their chats with the bot, as people do with /start.
        for user in self.users.values():
            self.emulator.send_user_message(user, self.emulator.private_chat(user), "/start")

    async def _start_bot(self) -> None:
        """Migrate and seed the database, then start the bot polling the emulator."""
        from telegram import Update

        url = self.database or database_url(self.data_dir)
        settings = load_settings(
            telegram_bot_token=TOKEN,
            telegram_api_base_url=self.server.base_url,
            telegram_api_base_file_url=self.server.base_file_url,
            database_url=url,
            admin_ids=[persona("admin").user_id],
            webhook_url=None,
        )
        policy = with_sandbox_rota(self.policy or load_policy(settings.incident_bot_config))
        db = Database(url)
        await db.migrate()
        ctx = build_context(settings, policy, db=db)
        self.ctx = ctx
        async with ctx.db.transaction() as session:
            await seed_office(session=session, ctx=ctx, groups=self.groups)
        app = build_application(ctx)
        await app.initialize()
        self.app = app
        await on_start(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0, timeout=10, allowed_updates=Update.ALL_TYPES
        )

    async def stop(self) -> None:
        """Stop the bot, finish its deliveries, close the database and the server."""
        app = self.app
        if app is not None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await on_stop(app)
            await app.shutdown()
            self.app = None
        if self.ctx is not None:
            await self.ctx.db.dispose()
            self.ctx = None
        server = getattr(self, "server", None)
        if server is not None:
            await server.stop()


def banner(sandbox: Sandbox) -> str:
    """What the sandbox prints once it is ready."""
    line = "=" * 66
    data = "a test database" if sandbox.database else str(sandbox.data_dir)
    exposed = (
        ""
        if sandbox.host in ("127.0.0.1", "::1", "localhost")
        else f"\n  Listening on {sandbox.host}: anyone on your network can act as anyone.\n"
    )
    return f"""
{line}
  incident-bot sandbox: nothing leaves this machine (no Telegram).

      Open  {sandbox.url}  in a browser.
{exposed}
  Pick a persona at the top left: 陈晨 (员工 · staff) reports with
  /report; 赵建国 (组长 · leader) acknowledges in 应急管理领导小组.
  Data: {data}  (start over: incident-bot sandbox --reset)
  Stop with Ctrl+C.
{line}
"""


async def serve(sandbox: Sandbox) -> None:
    """Run the sandbox until Ctrl+C or SIGTERM."""
    await sandbox.start()
    print(banner(sandbox), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        print("stopping the sandbox…", flush=True)
        await sandbox.stop()
