"""Journeys of getting in: registration, approval, invites, binding, languages, contacts."""

from __future__ import annotations

from bot.access import contacts
from bot.access.buttons import AccessDecision
from bot.platform.roles import Role
from storage import access as access_q
from tests.harness import Stage, fast_policy


async def test_unknown_user_is_approved_as_leader_and_sees_leader_commands(stage: Stage) -> None:
    """R14: /start registers a pending user; an admin approves them as a leader."""
    admin = stage.tg.user("Admin Wang", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await admin.wait_for("Welcome")

    newcomer = stage.tg.user("Li Lei", lang="en", username="lilei")
    await newcomer.send("/start")
    await newcomer.wait_for("sent to the admins")

    card = await admin.wait_for("New access request")
    assert "Li Lei" in card.text and "@lilei" in card.text
    answer = await card.press("Approve as leadership group")
    assert answer.text == "Done."
    await card.wait_until("approved as leadership group")
    assert card.buttons == []

    told = await newcomer.wait_for("approved your access")
    assert "leadership group" in told.text
    await newcomer.send("/help")
    help_text = await newcomer.wait_for("What you can do")
    assert "/special_period" in help_text.text
    assert "/invite" not in help_text.text


async def test_pending_user_is_told_to_wait_and_nothing_else_happens(stage: Stage) -> None:
    """R14: a pending user's commands do nothing but say the request is waiting."""
    admin = stage.tg.user("Admin", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    stranger = stage.tg.user("Stranger", lang="en")
    await stranger.send("/report")
    await stranger.wait_for("not registered yet")
    await stranger.send("/start")
    await stranger.wait_for("sent to the admins")
    await stranger.send("/report")
    await stranger.wait_for("still waiting")
    await stage.settle()
    assert not any("What kind of incident" in m.text for m in stranger.messages())


async def test_rejected_request_is_told_and_card_closed(stage: Stage) -> None:
    """R14: Reject tells the user; a second admin's press is refused politely."""
    first, second = stage.tg.user("Admin One", lang="en"), stage.tg.user("Admin Two", lang="en")
    await stage.start_bot(admins=[first, second])
    await first.send("/start")
    await second.send("/start")
    # Different chats are handled at once: both admins are in before the newcomer asks.
    await first.wait_for("Your roles")
    await second.wait_for("Your roles")
    newcomer = stage.tg.user("Zhang", lang="en")
    await newcomer.send("/start")
    card_one = await first.wait_for("New access request")
    card_two = await second.wait_for("New access request")
    await card_one.press("Reject")
    await newcomer.wait_for("declined")
    await card_two.wait_until("rejected")
    approve = AccessDecision(user_id=newcomer.id, role=Role.ADMIN).pack()
    late = await stage.tg.forge_press(second, card_two, approve)
    assert late.show_alert and "already decided" in (late.text or "")


async def test_invite_link_registers_a_duty_officer_once(stage: Stage) -> None:
    """R14: an invite registers and approves in one step, and cannot be used twice."""
    admin = stage.tg.user("Admin", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await admin.send("/invite duty")
    invite = await admin.wait_for("Invite link")
    link = next(word for word in invite.text.split() if word.startswith("https://t.me/"))
    token = link.split("?start=")[1]
    assert link.startswith("https://t.me/incident_test_bot?start=")

    officer = stage.tg.user("Officer Chen", lang="en")
    await officer.send(f"/start {token}")
    welcome = await officer.wait_for("registered as duty officer")
    assert welcome.buttons, "the welcome offers the report button"

    other = stage.tg.user("Someone Else", lang="en")
    await other.send(f"/start {token}")
    await other.wait_for("already been used")
    await other.send("/help")
    await other.wait_for("not registered yet")


async def test_group_is_bound_as_leadership_chat_by_an_admin_only(stage: Stage) -> None:
    """R14: /bind works for admins inside the group; others are refused."""
    admin = stage.tg.user("Admin", lang="en")
    member = stage.tg.user("Member", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    group = stage.tg.group("领导小组", members=[admin, member])
    await group.send(member, "/bind leadership")
    await group.wait_for("只有管理员")
    await group.send(admin, "/bind leadership")
    bound = await group.wait_for("本群已绑定为领导小组群")
    assert bound.chat_id == group.id


async def test_a_member_repeating_bind_in_an_unbound_group_is_told_once(stage: Stage) -> None:
    """R14: an unbound group is not flooded with refusals; an admin can still bind it."""
    admin = stage.tg.user("Admin", lang="en")
    member = stage.tg.user("Member", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    group = stage.tg.group("Noisy chat", members=[admin, member])
    await group.wait_for("尚未绑定")
    for _ in range(3):
        await group.send(member, "/bind leadership")
        await group.send(member, "/unbind")
    await stage.settle()
    refusals = [m for m in group.messages() if "只有管理员" in m.text]
    assert len(refusals) == 1, [m.text for m in group.messages()]
    await group.send(admin, "/bind leadership")
    await group.wait_for("本群已绑定为领导小组群")


async def test_stranger_in_unbound_group_gets_only_the_short_note(stage: Stage) -> None:
    """R14: an unbound group gets a short note and nothing is acted upon."""
    admin = stage.tg.user("Admin", lang="en")
    stranger = stage.tg.user("Stranger", lang="en")
    await stage.start_bot(admins=[admin])
    group = stage.tg.group("Random chat", members=[stranger])
    note = await group.wait_for("尚未绑定")
    await group.send(stranger, "/report")
    await group.send(stranger, "/incidents")
    await group.send(stranger, "/help")
    await stage.settle()
    texts = [m.text for m in group.messages()]
    assert texts == [note.text], texts


async def test_languages_follow_telegram_and_lang_command(stage: Stage) -> None:
    """R15: English Telegram users get English, others Chinese; /lang switches."""
    admin = stage.tg.user("Admin", lang="zh")
    english = stage.tg.user("Bob", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await admin.wait_for("欢迎")
    await english.send("/start")
    await english.wait_for("Your request for access has been sent")
    card = await admin.wait_for("新的注册申请")
    await card.press("批准为工作人员")
    await english.wait_for("Welcome, Bob!")
    await english.send("/lang zh")
    await english.wait_for("语言已设置为中文")
    await english.send("/help")
    await english.wait_for("可用命令")


async def test_contacts_show_configured_numbers_in_international_form(stage: Stage) -> None:
    """R2: every configured number is written in international form, tappable in Telegram."""
    config = stage.tmp_path / "config.toml"
    config.write_text(
        'phone_area_code = "028"\n'
        '[[contacts]]\nposition = "leader"\nname = "王组长"\ntitle = "副主任"\n'
        'office_phone = "87654321"\nmobile = "13800138000"\n'
        '[[contacts]]\nposition = "deputy"\nname = "李副组长"\noffice_phone = "028-87650000"\n'
        '[[contacts]]\nposition = "liaison"\nname = "赵联络员"\nmobile = "139 0000 1111"\n'
        '[[contacts]]\nposition = "tech_lead"\nname = "陈工"\nmobile = "+86 137 1234 5678"\n',
        encoding="utf-8",
    )
    from bot.platform.config import load_policy
    from tests.harness import fast_policy

    policy = fast_policy(**load_policy(config).model_dump(include={"contacts", "phone_area_code"}))
    admin = stage.tg.user("Admin", lang="zh")
    await stage.start_bot(admins=[admin], policy=policy)
    await admin.send("/contacts")
    card = await admin.wait_for("应急联系人")
    for number in (
        "+86 28 8765 4321",
        "+86 138 0013 8000",
        "+86 28 8765 0000",
        "+86 139 0000 1111",
        "+86 137 1234 5678",
    ):
        assert number in card.text
    assert card.text.index("组长") < card.text.index("技术应用中心负责人")


async def test_admin_adds_a_contact_through_the_buttons(stage: Stage) -> None:
    """R2: admins add to the card in chat; a bad number is refused with the step's buttons."""
    admin = stage.tg.user("Admin", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/contacts")
    card = await admin.wait_for("Emergency contacts")
    await card.press("➕ Add")
    position = await admin.wait_for("Which position")
    await position.press("deputy group leader")
    await admin.wait_for("Send the contact's name")
    await admin.send("Sun <b>Deputy</b>")
    await (await admin.wait_for("Send the title")).press("Skip")
    await admin.wait_for("area of responsibility")
    await admin.send("Network security")
    await admin.wait_for("office phone")
    await admin.send("12345")
    refusal = await admin.wait_for("not a phone number")
    # The reason comes with the step's question and buttons, and those buttons work.
    assert "office phone" in refusal.text
    labels = [b.text for row in refusal.buttons for b in row]
    assert {"Skip", "⬅️ Back", "✖️ Cancel"} <= set(labels), labels
    await refusal.press("⬅️ Back")
    await admin.wait_for("area of responsibility")
    await admin.send("Network security")
    await admin.wait_for("office phone")
    await admin.send("028-87651111")
    mobile = await admin.wait_for("mobile number")
    await mobile.press("Skip")
    shown = await admin.wait_for("Emergency contacts")
    assert "Sun <b>Deputy</b>" in shown.text
    assert "+86 28 8765 1111" in shown.text
    assert "Network security" in shown.text


async def test_admin_changes_a_contacts_number_through_the_buttons(stage: Stage) -> None:
    """R2: Edit → person → field → the new value; a bad number is refused with the buttons."""
    admin = stage.tg.user("Admin", lang="en")
    policy = fast_policy(
        contacts=[{"position": "liaison", "name": "Zhao Liaison", "office_phone": "028-87650000"}]
    )
    bot = await stage.start_bot(admins=[admin], policy=policy)
    await admin.send("/contacts")
    card = await admin.wait_for("Emergency contacts")
    assert "+86 28 8765 0000" in card.text
    await card.press("✏️ Edit")
    await card.wait_until("Whom do you want to edit")
    await card.press("liaison: Zhao Liaison")
    await card.wait_until("Which field")
    await card.press("Office phone")
    prompt = await admin.wait_for("Send the new number")
    assert "Zhao Liaison" in prompt.text and "+86 28 8765 0000" in prompt.text
    await admin.send("12345")
    refusal = await admin.wait_for("not a phone number")
    assert "Send the new number" in refusal.text
    labels = [b.text for row in refusal.buttons for b in row]
    assert {"🗑 Leave it empty", "✖️ Cancel"} <= set(labels), labels
    await refusal.press("🗑 Leave it empty")
    shown = await admin.wait_for("entry was changed")
    assert "Emergency contacts" in shown.text and "Zhao Liaison" in shown.text
    assert "8765 0000" not in shown.text

    # Taken off the card by someone else meanwhile: saving is refused with the step's buttons.
    await admin.send("/contacts")
    card = await admin.wait_for("Emergency contacts")
    await card.press("✏️ Edit")
    await card.wait_until("Whom do you want to edit")
    await card.press("liaison: Zhao Liaison")
    await card.wait_until("Which field")
    await card.press("Mobile")
    await admin.wait_for("Send the new number")
    async with bot.ctx.db.transaction() as session:
        (contact,) = await access_q.list_contacts(session=session)
        await contacts.remove(
            session=session, ctx=bot.ctx, admin_id=admin.id, contact_id=contact.id
        )
    await admin.send("13800138000")
    refusal = await admin.wait_for("no longer exists")
    assert "Send the new number" in refusal.text
    await refusal.press("✖️ Cancel")
    await refusal.wait_until("was cancelled")
