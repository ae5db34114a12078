"""Statistics charts as PNG: matplotlib's Agg canvas and a font that has Chinese glyphs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fontTools.ttLib import TTFont

# matplotlib costs tens of megabytes that stay once imported: the bot draws its charts in a
# short-lived child process (`draw`), so only that process ever imports it.
if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontEntry

log = logging.getLogger(__name__)

# Preferred first: Debian's fonts-noto-cjk (installed by `make` and the Dockerfile), then others.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)
CJK_FILE_HINTS = ("notosanscjk", "notoserifcjk", "sourcehan", "wqy", "droidsansfallback", "simhei")
# Characters any Chinese chart needs; a font lacking one is not used.
PROBE = "事件统计大型中型小型数量月入侵病毒"
LEVEL_COLORS = ("#c0392b", "#e67e22", "#2e86c1")
DRAW_TIMEOUT_SECONDS = 120
_lock = threading.Lock()


@dataclass(frozen=True)
class ChartFont:
    """A font file (and face, in a collection) matplotlib draws with."""

    path: str
    index: int
    family: str


@cache
def _codepoints(path: str, index: int) -> frozenset[int]:
    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def has_glyphs(path: str, index: int, text: str) -> bool:
    """Whether a font file's face maps every character of a text (spaces aside)."""
    try:
        known = _codepoints(path, index)
    except Exception:  # an unreadable font file is simply not a candidate
        return False
    return all(ord(char) in known for char in text if not char.isspace())


def _candidates() -> list[FontEntry]:
    from matplotlib import font_manager

    entries = font_manager.fontManager.ttflist
    ranked = [e for family in CJK_FAMILIES for e in entries if e.name == family]
    return ranked + [e for e in entries if "CJK" in e.name and e not in ranked]


def _add_unknown_cjk_files() -> None:
    """Tell matplotlib about CJK font files installed after it cached its font list."""
    from matplotlib import font_manager

    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        name = Path(path).name.lower().replace("-", "").replace("_", "")
        if path not in known and any(hint in name for hint in CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue


def _find() -> ChartFont | None:
    _add_unknown_cjk_files()
    for entry in _candidates():
        index = int(getattr(entry, "index", 0) or 0)
        if has_glyphs(entry.fname, index, PROBE):
            return ChartFont(path=entry.fname, index=index, family=entry.name)
    return None


_found: list[ChartFont | None] = []


def cjk_font() -> ChartFont | None:
    """The font charts use for Chinese, found once; None (and a log line) when there is none."""
    with _lock:
        if not _found:
            font = _find()
            if font is None:
                log.warning(
                    "no font with Chinese glyphs found (install fonts-noto-cjk): "
                    "charts are drawn with English labels"
                )
            else:
                log.info("charts use the font %s (%s)", font.family, font.path)
            _found.append(font)
        return _found[0]


def can_draw(texts: list[str]) -> bool:
    """Whether every character of the texts has a glyph in the chart font (or needs none)."""
    wanted = "".join(texts)
    if wanted.isascii():
        return True
    font = cjk_font()
    return font is not None and has_glyphs(font.path, font.index, wanted)


@dataclass
class Series:
    """One level's counts, in the left and the right panel."""

    name: str
    left: list[int]
    right: list[int]


@dataclass
class Chart:
    """What a statistics chart shows: counts stacked by level, per group and per category."""

    title: str
    left_title: str
    left_labels: list[str]
    right_title: str
    right_labels: list[str]
    axis_label: str
    series: list[Series] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Every text the chart draws."""
        return [
            self.title,
            self.left_title,
            self.right_title,
            self.axis_label,
            *self.left_labels,
            *self.right_labels,
            *(s.name for s in self.series),
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chart:
        """The chart from its `asdict` form."""
        series = [Series(**item) for item in data["series"]]
        return cls(**{**data, "series": series})


def choose(chart: Chart, fallback: Chart) -> Chart:
    """The chart, or its fallback (English) when no font has glyphs for its labels."""
    if can_draw(chart.texts()):
        return chart
    log.warning("no chart font has glyphs for the labels of %r: drawing English ones", chart.title)
    return fallback


def figure(chart: Chart) -> Figure:
    """The chart as a matplotlib figure, every text in the chart font."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import MaxNLocator

    font = cjk_font() if not "".join(chart.texts()).isascii() else None
    family = font.family if font is not None else "DejaVu Sans"

    def props(size: float) -> FontProperties:
        return FontProperties(family=family, size=size)

    fig = Figure(figsize=(11, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    fig.suptitle(chart.title, fontproperties=props(14))
    bottom_left = [0] * len(chart.left_labels)
    bottom_right = [0] * len(chart.right_labels)
    bars_left = bars_right = None
    for series, color in zip(chart.series, LEVEL_COLORS, strict=False):
        bars_left = left.bar(
            chart.left_labels, series.left, bottom=bottom_left, color=color, label=series.name
        )
        bars_right = right.barh(
            chart.right_labels, series.right, left=bottom_right, color=color, label=series.name
        )
        bottom_left = [a + b for a, b in zip(bottom_left, series.left, strict=True)]
        bottom_right = [a + b for a, b in zip(bottom_right, series.right, strict=True)]
    # Totals at the end of each stack.
    if bars_left is not None and bars_right is not None:
        left.bar_label(bars_left, labels=[str(n) if n else "" for n in bottom_left], fontsize=8)
        right.bar_label(bars_right, labels=[str(n) if n else "" for n in bottom_right], fontsize=8)
    right.invert_yaxis()
    # Room above the tallest stack for its total.
    left.set_ylim(0, max(bottom_left, default=0) * 1.15 + 1)
    right.set_xlim(0, max(bottom_right, default=0) * 1.15 + 1)
    left.set_title(chart.left_title, fontproperties=props(11))
    right.set_title(chart.right_title, fontproperties=props(11))
    left.set_ylabel(chart.axis_label, fontproperties=props(10))
    right.set_xlabel(chart.axis_label, fontproperties=props(10))
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (left, right):
        axes.tick_params(labelsize=9, labelfontfamily=family)
        axes.spines[["top", "right"]].set_visible(False)
    handles, names = left.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=3, prop=props(10), frameon=False)
    return fig


def png(chart: Chart) -> bytes:
    """The chart drawn as PNG bytes."""
    fig = figure(chart)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


async def draw(chart: Chart, *, fallback: Chart) -> bytes:
    """The chart (or its fallback, see `choose`) as PNG, drawn by a child process."""
    payload = json.dumps({"chart": asdict(chart), "fallback": asdict(fallback)}).encode()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.records.charts",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(payload), DRAW_TIMEOUT_SECONDS)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise RuntimeError("drawing the chart took too long") from None
    said = err.decode("utf-8", errors="replace").strip()
    if child.returncode != 0:
        raise RuntimeError(f"drawing the chart failed: {said[-2000:]}")
    for line in said.splitlines():
        log.warning("%s", line)
    return out


def _child() -> None:
    """`python -m bot.records.charts`: chart and fallback as JSON on stdin, PNG on stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    data = json.loads(sys.stdin.buffer.read())
    drawn = choose(Chart.from_dict(data["chart"]), Chart.from_dict(data["fallback"]))
    sys.stdout.buffer.write(png(drawn))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _child()
