"""Bad input never crashes the report: clear messages, same step, escaped HTML (R3 R1 R15)."""

from __future__ import annotations

from emulator.testing import UserHandle
from tests.harness import Stage, fast_policy
from tests.journeys.cast import enlist, open_office


async def _to_step(user: UserHandle, step: str) -> None:
    """Walk a fresh report (medium network failure) up to a step's question."""
    await user.send("/report")
    await (await user.wait_for("What kind of incident")).press("Network failure")
    prompt = await user.wait_for("Choose the level")
    await prompt.press(next(b.text for row in prompt.buttons for b in row if "medium" in b.text))
    if step == "when":
        await user.wait_for("When did it happen")
        return
    await (await user.wait_for("When did it happen")).press("Just now")
    await user.wait_for("Where did it happen")


async def test_wrong_and_future_times_are_refused_and_the_step_stays(stage: Stage) -> None:
    """R3: a time that cannot be read, or is in the future, gets a clear message and a retry."""
    office = await open_office(stage)
    staff = office.staff
    await _to_step(staff, "when")
    await staff.send("yesterday-ish")
    await staff.wait_for("could not read that time")
    await staff.send("2099-01-01 10:00")
    await staff.wait_for("in the future")
    await staff.send("25:61")
    await staff.wait_for("could not read that time")
    await staff.send("30 min ago")
    await staff.wait_for("Where did it happen")


async def test_bad_ip_long_text_and_html_everywhere(stage: Stage) -> None:
    """R3: a bad IP and a 3000-character description are refused; HTML reaches cards escaped."""
    office = await open_office(stage)
    staff = office.staff
    await _to_step(staff, "where")
    html_where = '<script>alert("x")</script> & <b>room'
    await staff.send(html_where)
    await staff.wait_for("What do you see")
    await staff.send("x" * 3000)
    refusal = await staff.wait_for("1 to 2000 characters")
    assert "3000" in refusal.text
    html_what = "<i>unclosed & <a href='http://evil'>link</a> &amp;"
    await staff.send(html_what)
    await staff.wait_for("Do you know where it comes from")
    await staff.send("300.1.1.1")
    await staff.wait_for("not a valid IP address")
    await staff.send("10.0.0.0/33")
    await staff.wait_for("not a valid network")
    await staff.send("<b>admin</b>")
    await staff.wait_for("Send an IP address")
    await staff.send("10.0.0.0/24")
    await (await staff.wait_for("Add photos or files")).press("Done")
    review = await staff.wait_for("Please check your report")
    assert html_where in review.text and html_what in review.text
    await review.press("📨 Submit")
    await staff.wait_for("Your report is in")
    card = await office.tech_center.wait_for("script")
    assert html_where in card.text and html_what in card.text
    assert "&lt;script&gt;" in card.html and "<script>" not in card.html
    assert "<a href" not in card.html


async def test_text_at_a_button_step_and_photo_at_a_text_step(stage: Stage) -> None:
    """R3: typing where a button is expected, or a photo where words are, is explained."""
    office = await open_office(stage)
    staff = office.staff
    await staff.send("/report")
    await staff.wait_for("What kind of incident")
    await staff.send("a virus I think")
    refusal = await staff.wait_for("choose with the buttons")
    # The reason comes with the step's question and buttons again, so nobody scrolls up.
    assert "What kind of incident" in refusal.text
    await refusal.press("Virus spread")
    prompt = await staff.wait_for("Choose the level")
    await prompt.press(next(b.text for row in prompt.buttons for b in row if "small" in b.text))
    await (await staff.wait_for("When did it happen")).press("Within the last hour")
    await staff.wait_for("Where did it happen")
    await staff.send_photo(b"\x89PNG\r\n\x1a\nnot-really")
    await staff.wait_for("can be added at step 7")


async def test_back_cancel_and_edit_from_the_review(stage: Stage) -> None:
    """R3: Back returns a step, Edit on the review changes one answer, Cancel drops the draft."""
    office = await open_office(stage)
    staff = office.staff
    await _to_step(staff, "where")
    prompt = staff.messages()[-1]
    await prompt.press("⬅️ Back")
    await (await staff.wait_for("When did it happen")).press("Earlier today")
    await staff.wait_for("Where did it happen")
    await staff.send("Core switch")
    await staff.wait_for("What do you see")
    await staff.send("Link down")
    await (await staff.wait_for("Do you know where it comes from")).press("Skip")
    await (await staff.wait_for("Add photos or files")).press("Done")
    review = await staff.wait_for("Please check your report")
    assert "earlier on the day" in review.text
    await review.press("✏️ Where")
    await staff.wait_for("Where did it happen")
    await staff.send("Backup core switch")
    review = await staff.wait_for("Please check your report")
    assert "Backup core switch" in review.text and "Link down" in review.text
    stale = await stage.tg.forge_press(staff, prompt, "rep:back:where")
    assert stale.show_alert and "no longer active" in (stale.text or "")
    await review.press("✖️ Cancel")
    await review.wait_until("cancelled")
    await staff.send("Anything")
    await staff.wait_for("did not understand")


async def test_forged_and_stale_buttons_are_refused_politely(stage: Stage) -> None:
    """R3 R5 R14: forged callback data changes nothing and gets a polite alert."""
    office = await open_office(stage)
    staff = office.staff
    await staff.send("/report")
    prompt = await staff.wait_for("What kind of incident")
    for data in (
        "rep:cat:earthquake",
        "rep:lvl:huge",
        "inc:ack:999",
        "inc:ack:x",
        "acc:ok:1:god",
        "zzz",
        "rep:submit",
    ):
        answer = await stage.tg.forge_press(staff, prompt, data)
        assert answer.show_alert, data
    await prompt.press("Other")
    await staff.wait_for("Choose the level")


async def test_unfinished_report_gets_one_reminder_then_expires(stage: Stage) -> None:
    """R3: an untouched draft is reminded once after 30 minutes, then discarded."""
    admin = stage.tg.user("Admin", lang="en")
    staff = stage.tg.user("Staff", lang="en")
    bot = await stage.start_bot(admins=[admin], policy=fast_policy())
    await admin.send("/start")
    await enlist(admin, staff, "staff")
    await staff.send("/report")
    await staff.wait_for("What kind of incident")
    await bot.advance(minutes=29)
    await bot.advance(minutes=2)
    await staff.wait_for("is not finished")
    await bot.advance(minutes=10)
    await stage.settle()
    assert len([m for m in staff.messages() if "is not finished" in m.text]) == 1
    await bot.advance(minutes=25)
    await staff.wait_for("was discarded")
    await staff.send("Portal")
    await staff.wait_for("did not understand")


async def test_resume_offer_when_starting_a_second_report(stage: Stage) -> None:
    """R3: /report during an unfinished report offers to continue it or start over."""
    office = await open_office(stage)
    staff = office.staff
    await _to_step(staff, "where")
    await staff.send("/report")
    offer = await staff.wait_for("unfinished incident report")
    await offer.press("Continue it")
    await staff.wait_for("Where did it happen")


async def test_chinese_reporter_gets_chinese_prompts(stage: Stage) -> None:
    """R15: a reporter whose Telegram speaks Chinese walks the report in Chinese."""
    admin = stage.tg.user("管理员", lang="zh")
    staff = stage.tg.user("张三", lang="zh")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await enlist(admin, staff, "staff")
    await staff.send("/report")
    prompt = await staff.wait_for("发生了哪类事件")
    labels = [b.text for row in prompt.buttons for b in row]
    assert "入侵" in labels and "自然灾害" in labels and "⬅️ 上一步" not in labels
