"""Texts for registration, approval, invites, binding, roles and languages."""

from __future__ import annotations

from messages.i18n import N_

APPROVE_AS = N_("Approve as %(role)s")
REJECT = N_("Reject")
REPORT_BUTTON = N_("🚨 Report an incident")
CONTACTS_BUTTON = N_("📇 Contacts")
HELP_BUTTON = N_("❓ Help")
LANG_ZH = "中文"
LANG_EN = "English"

NOT_REGISTERED = N_("You are not registered yet. Send /start to ask for access.")
PENDING_ALERT = N_("Your request is waiting for an admin's approval.")
NO_ACCESS_ALERT = N_("You do not have access. Please contact an admin.")
NOT_ALLOWED_ALERT = N_("Sorry, your role does not allow this.")
DECIDED_ALERT = N_("Done.")

CMD_START = N_("start, or ask for access")
CMD_HELP = N_("what you can do")
CMD_LANG = N_("choose the language")
CMD_INVITE = N_("invite link with a role")
CMD_USERS = N_("list users")
CMD_ROLE = N_("change a user's roles")
CMD_BIND = N_("bind this group to a purpose")
CMD_UNBIND = N_("unbind this group")
CMD_CONTACTS = N_("emergency contacts")

ERRORS = {
    "access.admins_only": N_("Only admins can do this."),
    "access.no_such_user": N_("No such user."),
    "access.already_decided": N_("Another admin has already decided on this request."),
    "access.invite_unknown": N_(
        "This invite link is not valid. Send /start to ask an admin for access."
    ),
    "access.invite_used": N_(
        "This invite link has already been used. Send /start to ask an admin for access."
    ),
    "access.invite_expired": N_(
        "This invite link has expired. Send /start to ask an admin for access."
    ),
    "access.already_registered": N_("You are already registered."),
    "access.no_roles": N_("Give at least one role."),
    "access.keep_own_admin": N_("You cannot remove your own admin role."),
    "access.not_yourself": N_("You cannot do this to yourself."),
    "access.bad_role": N_("Unknown role. Use one of: %(roles)s"),
    "access.usage_invite": N_("Usage: /invite <role>, role one of: %(roles)s"),
    "access.usage_role": N_("Usage: /role <user id or @username> <role>[,<role>...]"),
    "access.private_only": N_("Please use this command in a private chat with me."),
    "access.group_only": N_("Please use this command inside the group chat."),
    "chats.unknown_purpose": N_(
        "Unknown purpose %(purpose)s. Use one of: leadership, tech_center, all_staff, duty."
    ),
    "chats.usage_bind": N_("Usage: /bind <purpose>, purpose one of: %(purposes)s"),
}
