"""Texts of handling: playbook steps, card buttons, updates, levels, the situation report."""

from __future__ import annotations

from typing import Any

from messages.common import level_label, position_label, purpose_label
from messages.i18n import N_, gettext_for
from messages.incidents import TIMELINE

# The plan's own steps (§三(二)3), by the key the policy names them with.
PLAYBOOK_STEPS = {
    "people_first": N_("Keep people safe first"),
    "save_data": N_("Secure the data: pull out the hard disks and keep them safe"),
    "save_equipment": N_("Secure the equipment: power it off, dismantle it, move it"),
    "judge_source": N_("Determine the source and nature of the damage"),
    "disconnect_devices": N_("Disconnect the network devices that endanger security and stability"),
    "cut_link": N_("Cut the physical network link to the source"),
    "lock_source": N_("Trace and lock the source IP address or network account"),
    "repair_data": N_("Repair the damaged information"),
    "restore_system": N_("Restore the information system"),
    "cut_spread": N_("Cut off the source of the spread"),
    "identify_virus": N_("Identify the virus and the ports it uses"),
    "close_ports": N_("Close those ports"),
    "publish_defence": N_("Publish the attack and how to defend against it to users"),
    "locate_ip": N_("Locate the intruder's IP address"),
    "close_port": N_("Close the port used for the intrusion"),
    "restrict_ip": N_("Restrict access from the intruder's IP address"),
    "disconnect_if_unstoppable": N_("If it cannot be stopped, disconnect the network"),
    "update_ids": N_("Build or update intrusion detection against this method"),
    "find_source": N_("Find the source: IP address and network account"),
    "disconnect_switch_port": N_("Disconnect the corresponding switch port"),
    "take_offline": N_("Take the tampered page or link offline at once"),
    "restore_content": N_("Restore the information as soon as possible"),
    "troubleshoot": N_("Find and clear the fault following the workflow"),
    "general_principles": N_("Handle it by the general security principles and the situation"),
    "ask_experts": N_("If it cannot be handled, ask the relevant experts"),
}
PLAYBOOKS = {
    "natural_disaster": N_("Natural disaster (procedure one)"),
    "human_damage": N_("Human or virus damage: general procedure (procedure two)"),
    "virus": N_("Virus spread"),
    "intrusion_internet": N_("Intrusion from the internet"),
    "intrusion_extranet": N_("Intrusion from the government extranet"),
    "tampering": N_("Information tampering"),
    "network_failure": N_("Network failure"),
    "other": N_("Other causes"),
}

CHECKLIST = N_("📋 Checklist")
UPDATE = N_("💬 Post update")
RELEVEL = N_("↕️ Change level")
RESOLVE = N_("🏁 Resolve")
DECLARE_OVER = N_("📢 Declare emergency over")
KEEP_TEXT = N_("✔️ Keep this text")
KEPT_PROCESS = N_("as drafted from the timeline")
END_NOW = N_("Now")
SUBMIT = N_("📨 Submit the report")
DECLARE_NOW = N_("📢 Declare over now")
STEP_TICKED_ALERT = N_("Ticked.")
SENT_PRIVATELY_ALERT = N_("I sent you a private message to continue.")

# The steps of the handling flows, as an answered prompt is folded ("✔️ Reason: ...").
UPDATE_FIELD = N_("Progress update")
LEVEL_FIELD = N_("New level")
REASON_FIELD = N_("Reason")
NOTE_FIELD = N_("Expert group's confirmation")
REPORT_FIELD = N_("Situation report")
NO_NOTE = N_("none")

CLOSE_FIELDS = {
    "consequences": N_("Consequences"),
    "process": N_("Handling process"),
    "result": N_("Result"),
    "ended": N_("End time"),
    "recommendations": N_("Recommendations to prevent a repeat"),
}

CMD_UPDATE = N_("post a progress update: /update 2026-0001 text")
CMD_REPORT_DOC = N_("send an incident's situation report again")
CMD_DRILL = N_("start a drill report")

TIMELINE_KINDS = {
    "step_done": N_("checklist step done"),
    "update": N_("progress update"),
    "update_reminder": N_("handler reminded to post an update"),
    "relevelled": N_("level changed"),
    "resolved": N_("resolved, situation report written"),
    "emergency_over": N_("emergency declared over"),
}
TIMELINE.update(TIMELINE_KINDS)

# Labels of the Word document.
DOC_TITLE = N_("Network security incident situation report")
DOC_TITLE_DRILL = N_("【Drill】 Emergency drill report")
DOC_DRILL_NOTE = N_("This is a drill, not a real incident.")
DOC_FIELDS = {
    "number": N_("Number"),
    "category": N_("Category"),
    "level": N_("Level"),
    "occurred": N_("Time it happened"),
    "place": N_("Place"),
    "description": N_("What was seen"),
    "reported": N_("Reported by, at"),
    "handler": N_("In charge"),
    "consequences": N_("Consequences"),
    "process": N_("Handling process"),
    "result": N_("Result"),
    "ended": N_("End time"),
    "recommendations": N_("Recommendations to prevent a repeat"),
    "written": N_("Written by, at"),
}
DOC_TIMELINE = N_("Timeline")
DOC_COLUMNS = (N_("Time"), N_("Event"), N_("By"), N_("Details"))

ERRORS = {
    "handling.not_a_handler": N_(
        "Sorry, only the duty officers, the tech center and the leadership group work on incidents."
    ),
    "handling.acknowledge_first": N_("Please acknowledge the incident first."),
    "handling.step_done": N_("That step is already ticked."),
    "handling.not_open": N_("This incident is no longer being handled."),
    "handling.bad_update": N_(
        "Send the update as text, 1 to 2000 characters. Yours has %(length)s."
    ),
    "handling.usage_update": N_("Usage: /update 2026-0001 what has been done"),
    "handling.usage_report_doc": N_("Usage: /report_doc 2026-0001"),
    "handling.same_level": N_("That is already the incident's level."),
    "handling.bad_reason": N_("Give the reason for the change in 1 to 500 characters."),
    "handling.bad_text": N_("Please answer in 1 to %(limit)s characters."),
    "handling.end_before_report": N_(
        "The end time cannot be before the incident was reported (%(reported)s). "
        "Send the time it ended, or press Now."
    ),
    "handling.not_resolved": N_(
        "The incident must be resolved before the emergency is declared over."
    ),
    "handling.already_resolved": N_("This incident has already been resolved."),
    "handling.no_report": N_("This incident has no situation report yet."),
    "handling.leaders_only": N_("Only the leadership group can declare the emergency over."),
    "handling.drill_roles": N_(
        "Only the tech center, the leadership group and admins start drills."
    ),
    "handling.private_only": N_("Please do this in a private chat with me."),
    "handling.incomplete": N_("The situation report is missing: %(fields)s."),
}


def step_label(language: str, step: Any) -> str:
    """A checklist step in a language: the office's own words, else the plan's built-in text."""
    if step.text:
        return str(step.text_en if language == "en" and step.text_en else step.text)
    return gettext_for(language, PLAYBOOK_STEPS.get(step.key, step.key))


def playbook_label(language: str, name: str) -> str:
    """A playbook section's title in a language."""
    message = PLAYBOOKS.get(name)
    return gettext_for(language, message) if message else name


def timeline_details(language: str, entry: Any) -> str:
    """What a timeline entry adds to its kind, as plain text."""
    data = entry.data or {}
    if entry.kind == "relevelled":
        change = f"{level_label(language, data.get('from', ''))} → "
        change += level_label(language, data.get("to", ""))
        return f"{change}: {entry.text}" if entry.text else change
    if entry.kind == "step_done":
        return str(
            data.get("label_en") if language == "en" and data.get("label_en") else entry.text
        )
    if entry.kind == "routed":
        return ", ".join(_target(language, t) for t in data.get("targets", []))
    if entry.kind == "route_missing":
        return _target(language, str(data.get("target", "")))
    if entry.kind == "escalated":
        return position_label(language, str(data.get("position", "")))
    return str(entry.text or "")


def _target(language: str, target: str) -> str:
    if target == "duty_officer":
        return position_label(language, target)
    return purpose_label(language, target)


def route_target(language: str, target: str, name: str | None = None) -> str:
    """Where a level change sent the incident: a chat by its purpose, the duty officer by name."""
    label = _target(language, target)
    return f"{label}: {name}" if target == "duty_officer" and name is not None else label


def open_step_button(language: str, number: int, step: Any) -> str:
    """A checklist step not yet done, as the button that ticks it."""
    return f"⬜ {number}. {step_label(language, step)}"


def target_names(language: str, targets: Any) -> str:
    """Where an incident went (or could not go): "Duty officer: Wu, tech center chat"."""
    names = []
    for found in targets:
        target = str(getattr(found, "target", found))
        name = getattr(found, "name", None)
        label = _target(language, target)
        names.append(f"{label}: {name}" if target == "duty_officer" and name else label)
    return ", ".join(names)


def close_field_label(language: str, field: str) -> str:
    """A situation-report field's name in a language."""
    message = CLOSE_FIELDS.get(field)
    return gettext_for(language, message) if message else field


TEMPLATE_HELPERS = {
    "step_name": step_label,
    "playbook_name": playbook_label,
    "timeline_details": timeline_details,
    "close_field": close_field_label,
    "target_names": target_names,
}
