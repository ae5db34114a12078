"""The optional source of an attack: an IP address, a network (CIDR) or an account."""

from __future__ import annotations

import ipaddress
import re

from bot.platform.errors import Invalid

_ACCOUNT = re.compile(r"^[\w.@\\\-+]{2,64}$", re.UNICODE)
_LOOKS_NUMERIC = re.compile(r"^[\d.:/a-fA-F]+$")


def parse_source(text: str) -> tuple[str, str]:
    """Return (normalised value, kind) with kind one of ip, cidr, account."""
    value = text.strip()
    if not value or len(value) > 200:
        raise Invalid("report.bad_source")
    if "/" in value and _LOOKS_NUMERIC.match(value):
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise Invalid("report.bad_cidr", value=value) from exc
        return str(network), "cidr"
    try:
        return str(ipaddress.ip_address(value)), "ip"
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value) or (":" in value and _LOOKS_NUMERIC.match(value)):
        raise Invalid("report.bad_ip", value=value)
    if _ACCOUNT.match(value):
        return value, "account"
    raise Invalid("report.bad_source")
