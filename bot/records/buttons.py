"""The buttons of records: the page buttons under an /incidents list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot.platform.buttons import ButtonData, Digits, Rest

# Search text is carried in the page buttons, so it is limited to what fits beside the rest.
TEXT_MAX_BYTES = 40
MAX_YEAR = 9998
PAGE_DIGITS = 5
MAX_PAGE = 10**PAGE_DIGITS - 1
StatusCode = Literal["o", "c", "a"]
LevelCode = Literal["l", "m", "s"]
CategoryCode = Literal["n", "v", "i", "t", "f", "o"]


@dataclass(frozen=True)
class RecordsPage(ButtonData, prefix="r"):
    """◀️ / ▶️ under /incidents: the filter being paged through and the page to show.

    Letters stand for the filter's words, so that every filter, with 40 bytes of search text,
    fits Telegram's 64 bytes: status o(pen) c(losed) a(ll); level l(arge) m(edium) s(mall);
    category n(atural disaster) v(irus) i(ntrusion) t(ampering) f(ailure of the network)
    o(ther). `bot.records.browse` turns a filter into one and back.
    """

    page: Annotated[int, Digits(PAGE_DIGITS)]
    status: StatusCode
    level: LevelCode | None
    category: CategoryCode | None
    year: Annotated[int, Digits(4)] | None
    month: Annotated[int, Digits(2)] | None
    drills: bool
    text: Annotated[str, Rest(TEXT_MAX_BYTES)] | None = None

    def __post_init__(self) -> None:
        if self.year is not None and not 1 <= self.year <= MAX_YEAR:
            raise ValueError(f"no such year: {self.year}")
        if self.month is not None and (self.year is None or not 1 <= self.month <= 12):
            raise ValueError(f"no such month: {self.year}-{self.month}")
