"""Early warnings: compose, approve, broadcast with progress, repeat, lift (R9, §三(二)3(4))."""

from __future__ import annotations

from datetime import timedelta

from emulator.testing import BotMessage, UserHandle
from storage import access as access_q
from tests.harness import Stage
from tests.journeys.cast import enlist, open_office

WHAT = "Ransomware is spreading through e-mail attachments named invoice.zip."
DEFENCE = "Do not open unexpected attachments. Update antivirus signatures today."


def _button(message: BotMessage, part: str) -> str:
    """The label of the message's button containing `part`."""
    return next(b.text for row in message.buttons for b in row if part in b.text)


def _has_button(label: str) -> object:
    def check(message: BotMessage) -> bool:
        return any(b.text == label for row in message.buttons for b in row)

    check.__name__ = f"has button {label!r}"
    return check


async def compose(
    sender: UserHandle,
    *,
    level: str = "Yellow",
    title: str = "Ransomware in e-mail attachments",
    what: str = WHAT,
    defence: str = DEFENCE,
    source: str | None = None,
    roles: list[str] | None = None,
) -> BotMessage:
    """Walk /warn to the preview; returns the preview message carrying Send."""
    await sender.send("/warn")
    prompt = await sender.wait_for("How serious is the threat")
    await prompt.press(_button(prompt, level))
    await sender.wait_for("Send a short title")
    await sender.send(title)
    await sender.wait_for("What is happening? Describe")
    await sender.send(what)
    await sender.wait_for("How should people defend")
    await sender.send(defence)
    prompt = await sender.wait_for("Is there a source")
    if source is None:
        await prompt.press("Skip")
    else:
        await sender.send(source)
    prompt = await sender.wait_for("Who should receive it")
    if roles is None:
        await prompt.press("👥 Everyone")
    else:
        for role in roles:
            await prompt.press(f"⬜ {role}")
            await prompt.wait_until(_has_button(f"✅ {role}"))  # type: ignore[arg-type]
        await prompt.press("Continue with the chosen roles")
    await sender.wait_for("The next message is exactly what people will receive")
    return await sender.wait_for(_has_button("📢 Send"))  # type: ignore[arg-type]


async def send_and_finish(sender: UserHandle, preview: BotMessage) -> BotMessage:
    """Press Send and wait for the progress message's final summary."""
    await preview.press("📢 Send")
    status = await sender.wait_for("📡")
    return await status.wait_until("Finished.", timeout=15)


async def test_r9_yellow_warning_reaches_everyone_and_the_sender_sees_the_counts(
    stage: Stage,
) -> None:
    """R9: a tech-center member warns everyone; every user and bound chat has it; counts add up."""
    office = await open_office(stage)
    blocker = stage.tg.user("Feng Blocked", lang="en")
    await enlist(office.admin, blocker, "staff")
    await blocker.block_bot()
    await stage.settle()

    preview = await compose(office.tech, title="Ransomware in e-mail attachments")
    assert "Yellow warning" in preview.text and WHAT in preview.text
    status = await send_and_finish(office.tech, preview)

    for person in office.people():
        copy = await person.wait_for("Ransomware in e-mail attachments")
        assert "Yellow warning" in copy.text and DEFENCE in copy.text
        assert "Tech Sun" in copy.text
    for group in (office.leadership, office.tech_center, office.all_staff):
        copy = await group.wait_for("Ransomware in e-mail attachments")
        assert "黄色预警" in copy.text and "防范措施" in copy.text
    assert not blocker.messages() or all("Ransomware" not in m.text for m in blocker.messages())

    assert "Delivered: 10 / 11" in status.text
    assert "Blocked the bot: 1" in status.text
    assert "Failed: 0" in status.text
    assert "Possible duplicates: 0" in status.text
    assert "▓▓▓▓▓▓▓▓▓▓ 100%" in status.text
    assert preview.buttons == []


async def test_r9_red_warning_from_the_tech_center_waits_for_a_leader(stage: Stage) -> None:
    """R9: a red warning from the tech center goes out only once a leader approves it."""
    office = await open_office(stage)
    preview = await compose(office.tech, level="Red", title="Core switch exploit in the wild")
    intro = office.tech.messages()[-2]
    assert "needs a leader's approval" in intro.text
    answer = await preview.press("📢 Send")
    assert "leadership group for approval" in (answer.text or "")
    await office.tech.wait_for("is waiting for a leader's approval")
    card = await office.leadership.wait_for("等待领导批准")
    assert "Core switch exploit in the wild" in card.text and "红色预警" in card.text

    refused = await card.press("✅ 批准", by=office.admin)
    assert refused.show_alert and "Only the leadership group" in (refused.text or "")
    await stage.settle()
    assert card.edit_count == 0
    assert all("Core switch" not in m.text for m in office.staff.messages())

    approved = await card.press("✅ 批准", by=office.leader)
    assert not approved.show_alert and "going out" in (approved.text or "")
    await card.wait_until("Leader Zhao")
    assert card.buttons == []
    copy = await office.staff.wait_for("Core switch exploit in the wild")
    assert "Red warning" in copy.text
    await office.all_staff.wait_for("Core switch exploit in the wild")
    status = await office.tech.wait_for("📡")
    await status.wait_until("Finished.", timeout=15)
    assert "Approved by Leader Zhao." in status.text
    assert "Delivered: 10 / 10" in status.text

    late = await stage.tg.forge_press(office.deputy, card, f"wrn:no:{_number(status)}")
    assert late.show_alert and "already been decided" in (late.text or "")


async def test_r9_a_leader_rejects_a_red_warning_and_nothing_goes_out(stage: Stage) -> None:
    """R9: a rejected red warning is never broadcast; its sender is told."""
    office = await open_office(stage)
    preview = await compose(office.tech_lead, level="Red", title="False alarm drill")
    await preview.press("📢 Send")
    card = await office.leadership.wait_for("等待领导批准")
    await card.press("✖️ 驳回", by=office.deputy)
    await office.tech_lead.wait_for("was rejected by Deputy Qian")
    await card.wait_until("驳回")
    await stage.settle()
    for person in office.people():
        assert all(
            "False alarm drill" not in m.text or m.chat_id == office.tech_lead.id
            for m in person.messages()
        )
    assert all("False alarm drill" not in m.text for m in office.all_staff.messages())


async def test_r9_a_user_approved_while_a_warning_is_active_receives_it(stage: Stage) -> None:
    """R9: someone approved while a warning is in force is sent it on approval."""
    office = await open_office(stage)
    preview = await compose(office.tech, level="Blue", title="Phishing site imitating the OA")
    await send_and_finish(office.tech, preview)

    newcomer = stage.tg.user("Newcomer Ma", lang="en")
    await newcomer.send("/start")
    await newcomer.wait_for("sent to the admins")
    request = await office.admin.wait_for("New access request")
    await request.press("Approve as staff")
    await newcomer.wait_for("approved your access")
    copy = await newcomer.wait_for("Phishing site imitating the OA")
    assert "Blue warning" in copy.text and "In force since" in copy.text

    await office.bot.drain()
    await office.tech.send("/warnings")
    listing = await office.tech.wait_for("Warnings in force")
    assert "Phishing site imitating the OA" in listing.text
    assert "Delivered 11 / 11" in listing.text


async def test_r9_lift_reaches_the_same_audience_and_the_list_drops_it(stage: Stage) -> None:
    """R9: a warning for chosen roles is lifted with a note; the lift reaches the same people."""
    office = await open_office(stage)
    title = "Worm scanning port 445"
    preview = await compose(
        office.tech, level="Orange", title=title, roles=["tech center", "duty officer"]
    )
    status = await send_and_finish(office.tech, preview)
    assert "Delivered: 6 / 6" in status.text
    audience = [office.tech, office.tech_lead, office.duty]
    groups = [office.leadership, office.tech_center, office.all_staff]
    for handle in [*audience, *groups]:
        await handle.wait_for(title)

    await office.staff.send("/warnings")
    listing = await office.staff.wait_for("Warnings in force")
    assert title in listing.text and "Delivered" not in listing.text
    number = _number(status)

    await office.staff.send(f"/lift {number}")
    await office.staff.wait_for("Only the tech center or the leadership group")

    await office.tech_lead.send(f"/lift {number}")
    await office.tech_lead.wait_for("Send a closing note")
    await office.tech_lead.send("Patched; port 445 closed at the firewall.")
    lift_status = await office.tech_lead.wait_for("Lifting warning")
    await lift_status.wait_until("Finished.", timeout=15)
    assert "Delivered: 6 / 6" in lift_status.text

    for handle in audience:
        lifted = await handle.wait_for("Warning lifted")
        assert title in lifted.text and "port 445 closed" in lifted.text
    for group in groups:
        lifted = await group.wait_for("警报解除")
        assert title in lifted.text
    await stage.settle()
    for person in (office.staff, office.leader, office.deputy, office.admin):
        received = [m for m in person.messages() if "Warnings in force" not in m.text]
        assert all(title not in m.text for m in received)

    await office.tech.send("/warnings")
    empty = await office.tech.wait_for("Warnings in force")
    assert "No warnings are in force." in empty.text and title not in empty.text
    await office.tech.send(f"/lift {number}")
    await office.tech.wait_for("not in force")

    # Lifted, it is no longer announced again at the daily cadence.
    await office.bot.advance(days=2)
    await stage.settle()
    for handle in audience:
        assert all("Reminder" not in m.text for m in handle.messages())


async def test_r9_bad_answers_are_explained_and_html_reaches_users_escaped(stage: Stage) -> None:
    """R9: a 101-character title, a bad link, a photo are refused with a reason; HTML is text."""
    office = await open_office(stage)
    await office.staff.send("/help")
    menu = await office.staff.wait_for("What you can do")
    assert "/warnings — warnings in force" in menu.text and "/warn —" not in menu.text
    await office.staff.send("/warn")
    await office.staff.wait_for("Only the tech center and the leadership group")
    await office.tech.send("/help")
    menu = await office.tech.wait_for("What you can do")
    assert "/warn — publish an early warning" in menu.text and "/lift — lift a warning" in menu.text

    sender = office.tech
    await sender.send("/warn")
    prompt = await sender.wait_for("How serious is the threat")
    await sender.send("yellow")
    refusal = await sender.wait_for("Please choose with the buttons below.")
    # The reason comes with the step's question and its buttons again, on the refusal itself;
    # the earlier prompt keeps no live buttons.
    assert "How serious is the threat" in refusal.text
    await prompt.wait_until(lambda m: m.buttons == [])
    await refusal.press(_button(refusal, "Yellow"))
    await sender.wait_for("Send a short title")
    await sender.send("T" * 101)
    refusal = await sender.wait_for("Send a title of 1 to 100 characters. Yours has 101.")
    assert "Send a short title" in refusal.text
    assert _has_button("⬅️ Back")(refusal) and _has_button("✖️ Cancel")(refusal)  # type: ignore[operator]
    await sender.send_photo(PNG)
    await sender.wait_for("Please answer in words")
    title = "<b>Patch</b> & <i>now</i>"
    await sender.send(title)
    await sender.wait_for("What is happening? Describe")
    await sender.send("<script>alert(1)</script> spreads via <a href='x'>links</a>")
    await sender.wait_for("How should people defend")
    await sender.send("Block *.zip & update")
    prompt = await sender.wait_for("Is there a source")
    await sender.send("not a link")
    await sender.wait_for("That is not a valid web link")
    await sender.send("ftp://files.example.org/advisory.txt")
    await sender.wait_for("That is not a valid web link")
    await sender.send("https://www.cert.org.cn/publish/main/8/2026/advisory.html?id=7&lang=zh")
    prompt = await sender.wait_for("Who should receive it")
    refused = await prompt.press("Continue with the chosen roles")
    assert refused.show_alert and "Choose at least one role" in (refused.text or "")
    await prompt.press("👥 Everyone")
    await sender.wait_for("The next message is exactly what people will receive")
    preview = await sender.wait_for(_has_button("📢 Send"))  # type: ignore[arg-type]
    await send_and_finish(sender, preview)

    copy = await office.staff.wait_for("<b>Patch</b> & <i>now</i>")
    assert "<script>alert(1)</script> spreads via <a href='x'>links</a>" in copy.text
    assert "&lt;script&gt;" in copy.html and "&lt;b&gt;Patch" in copy.html
    links = [e for e in copy.entities if e["type"] == "text_link"]
    assert [e["url"] for e in links] == [
        "https://www.cert.org.cn/publish/main/8/2026/advisory.html?id=7&lang=zh"
    ]
    group_copy = await office.all_staff.wait_for("<b>Patch</b>")
    assert "&lt;i&gt;now" in group_copy.html


def _number(status: BotMessage) -> int:
    """The warning's number from its progress message ('Warning #3 · ...')."""
    return int(status.text.split("#", 1)[1].split()[0])


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


async def test_r9_orange_warnings_are_announced_again_daily_at_nine(stage: Stage) -> None:
    """R9: an orange warning is repeated every day at 09:00 office time until lifted; yellow not."""
    office = await open_office(stage)
    orange = await compose(office.leader, level="Orange", title="DDoS against district sites")
    await send_and_finish(office.leader, orange)
    yellow = await compose(office.tech, level="Yellow", title="Weak VPN passwords")
    await send_and_finish(office.tech, yellow)
    for handle in (office.staff, office.all_staff):
        await handle.wait_for("DDoS against district sites")

    ctx = office.bot.ctx
    local = ctx.renderer.to_local(ctx.now())
    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
    # The first repeat is at least an hour after sending, at the next 09:00.
    while nine <= local + timedelta(hours=1):
        nine += timedelta(days=1)
    await office.bot.advance(seconds=(nine - local).total_seconds() - 60)
    await stage.settle()
    assert all("Reminder" not in m.text for m in office.staff.messages())

    await office.bot.advance(seconds=61)
    reminder = await office.staff.wait_for("Reminder: this warning is still in force")
    assert "DDoS against district sites" in reminder.text and "In force since" in reminder.text
    group_reminder = await office.all_staff.wait_for("提醒：本预警仍然有效")
    assert "DDoS against district sites" in group_reminder.text

    await office.bot.advance(days=1)
    await office.staff.wait_for("Reminder: this warning is still in force")
    await stage.settle()
    reminders = [m for m in office.staff.messages() if "Reminder" in m.text]
    assert len(reminders) == 2
    assert all("Weak VPN passwords" not in m.text for m in reminders)
    async with ctx.db.transaction() as session:
        repeated = await access_q.audit_entries(session=session, action="warning.repeated")
        sent = await access_q.audit_entries(session=session, action="warning.sent")
    assert len(repeated) == 2 and len(sent) == 2


async def test_r9_stale_and_forged_buttons_change_nothing(stage: Stage) -> None:
    """R9: buttons of another step, forged data and buttons after Cancel are refused politely."""
    office = await open_office(stage)
    sender = office.tech
    await sender.send("/warn")
    level_prompt = await sender.wait_for("How serious is the threat")
    await level_prompt.press(_button(level_prompt, "Orange"))
    title_prompt = await sender.wait_for("Send a short title")

    for data in ("wrn:send", "wrn:lvl:purple", "wrn:role:emperor", "wrn:back:source"):
        refused = await stage.tg.forge_press(sender, title_prompt, data)
        assert refused.show_alert and "no longer active" in (refused.text or ""), data
    missing = await stage.tg.forge_press(sender, title_prompt, "wrn:ok:999")
    assert missing.show_alert and "Only the leadership group" in (missing.text or "")
    last = office.leader.last()
    assert last is not None
    missing = await stage.tg.forge_press(office.leader, last, "wrn:ok:999")
    assert missing.show_alert and "No such warning" in (missing.text or "")

    await title_prompt.press("⬅️ Back")
    level_again = await sender.wait_for("How serious is the threat")
    await level_again.press(_button(level_again, "Blue"))
    await sender.wait_for("Send a short title")
    await sender.send("Suspicious USB sticks")
    await sender.wait_for("What is happening? Describe")
    await sender.send("/cancel")
    await sender.wait_for("Your early warning was cancelled.")
    stale = await stage.tg.forge_press(sender, level_again, "wrn:lvl:red")
    assert stale.show_alert and "no longer active" in (stale.text or "")
    await stage.settle()
    async with office.bot.ctx.db.transaction() as session:
        assert await access_q.audit_entries(session=session, action="warning.sent") == []
