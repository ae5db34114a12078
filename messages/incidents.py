"""Names and labels for incidents: categories, levels explained, statuses, card buttons."""

from __future__ import annotations

from messages.i18n import N_, gettext_for

CATEGORIES = {
    "natural_disaster": N_("Natural disaster"),
    "virus": N_("Virus spread"),
    "intrusion": N_("Intrusion"),
    "tampering": N_("Information tampering"),
    "network_failure": N_("Network failure"),
    "other": N_("Other"),
}
SUBTYPES = {
    "internet": N_("from the internet"),
    "extranet": N_("from the government extranet"),
}
LEVEL_MEANINGS = {
    "large": N_(
        "Large: the leadership group leads, the tech center assists. "
        "E.g. the whole network is down, the portal is defaced, a virus outbreak, data leaked."
    ),
    "medium": N_(
        "Medium: the tech center leads. "
        "E.g. one department is offline, a key server is intruded, a virus spreads locally."
    ),
    "small": N_(
        "Small: the tech center's responsible person handles it. "
        "E.g. one PC has a virus, one terminal cannot get online, a suspicious scan."
    ),
}
STATUSES = {
    "reported": N_("reported, waiting for acknowledgement"),
    "acknowledged": N_("acknowledged"),
    "in_progress": N_("being handled"),
    "resolved": N_("resolved, emergency not yet declared over"),
    "closed": N_("closed, emergency over"),
}
SOURCE_KINDS = {
    "ip": N_("IP address"),
    "cidr": N_("network"),
    "account": N_("account"),
}
TIMELINE = {
    "reported": N_("reported"),
    "routed": N_("sent to the responsible chats"),
    "route_missing": N_("could not be sent: chat not bound"),
    "acknowledged": N_("acknowledged"),
    "taken": N_("taken in charge"),
    "escalated": N_("escalated"),
    "escalation_stopped": N_("escalation stopped after the last round"),
}

ACKNOWLEDGE = N_("✅ Acknowledge")
TAKE_CHARGE = N_("🙋 Take charge")
DETAILS = N_("📄 Details")
ACKNOWLEDGED_ALERT = N_("Acknowledged. Every copy of the card now says so.")
TAKEN_ALERT = N_("You are now in charge of this incident.")
DETAILS_SENT_ALERT = N_("I sent you the details in a private chat.")
START_PRIVATE_ALERT = N_("Please start a private chat with me first (send me /start).")
DRILL_MARK = N_("【Drill】")

CMD_INCIDENT = N_("one incident with its timeline")
CMD_SPECIAL_PERIOD = N_("declare or end the special period")

ERRORS = {
    "incidents.not_found": N_("No such incident."),
    "incidents.not_your_level": N_(
        "Sorry, your role may not handle a %(level)s incident. It is for the people the plan "
        "makes responsible for that level."
    ),
    "incidents.already_acknowledged": N_("This incident has already been acknowledged."),
    "incidents.already_yours": N_("You are already in charge of this incident."),
    "incidents.closed": N_("This incident is no longer open."),
    "incidents.leaders_only": N_("Only the leadership group can do this."),
    "incidents.not_allowed": N_("Sorry, you may not see this incident."),
    "incidents.usage_incident": N_("Usage: /incident 2026-0001"),
    "incidents.usage_special": N_("Usage: /special_period on or /special_period off"),
}


def category_label(language: str, category: str, subtype: str | None = None) -> str:
    """'Intrusion (from the internet)' in a language."""
    name = gettext_for(language, CATEGORIES.get(category, category))
    if subtype and subtype in SUBTYPES:
        name = f"{name}（{gettext_for(language, SUBTYPES[subtype])}）"
    return name


def level_meaning(language: str, level: str) -> str:
    """A level's one-line meaning with examples."""
    return gettext_for(language, LEVEL_MEANINGS.get(level, level))


def incident_status_label(language: str, status: str) -> str:
    """An incident status in a language."""
    return gettext_for(language, STATUSES.get(status, status))


def source_kind_label(language: str, kind: str | None) -> str:
    """'IP address', 'network' or 'account'."""
    return gettext_for(language, SOURCE_KINDS.get(kind or "", "")) if kind else ""


def timeline_label(language: str, kind: str) -> str:
    """A timeline entry's kind in a language (features add theirs to TIMELINE)."""
    message = TIMELINE.get(kind)
    return gettext_for(language, message) if message else kind


TEMPLATE_HELPERS = {
    "category_name": category_label,
    "level_meaning": level_meaning,
    "incident_status": incident_status_label,
    "source_kind_name": source_kind_label,
    "timeline_name": timeline_label,
}
