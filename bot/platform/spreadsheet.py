"""Tables written as CSV (UTF-8 with BOM, for Excel) or .xlsx, with no formula in any cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

# openpyxl is imported when a workbook is first written, not at start (memory).
if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell

Cell = str | int | float | None
# What a spreadsheet reads as the start of a formula (or a command, for tab and return).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")


def neutralise(value: str) -> str:
    """A text made safe for a CSV opened in a spreadsheet: no formula can start it."""
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """The table as CSV in UTF-8 with a BOM, so that Excel reads Chinese correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(column) for column in header])
    for row in rows:
        writer.writerow(
            [
                "" if value is None else neutralise(value) if isinstance(value, str) else value
                for value in row
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str) -> bytes:
    """The table as a workbook of one sheet; every text is stored as text, never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: Cell, *, heading: bool = False) -> WriteOnlyCell:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        made = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            # openpyxl takes a text starting with "=" for a formula unless told otherwise.
            made.data_type = "s"
        if heading:
            made.font = bold
        return made

    sheet.append([cell(column, heading=True) for column in header])
    for row in rows:
        sheet.append([cell(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write(fmt: str, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, title: str) -> bytes:
    """The table in a format named by FORMATS."""
    if fmt == "xlsx":
        return to_xlsx(header, rows, title=title)
    return to_csv(header, rows)
