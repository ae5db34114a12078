"""Keep the catalogs in step with the code: `python -m messages.catalog update|check`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

from messages.i18n import LOCALES
from messages.render import NOT_FEATURES

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
TRANSLATED = ("zh_CN",)
KEYWORDS = {"N_": None, "_": None, "gettext": None}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def features() -> list[str]:
    """Every feature that owns texts: a template folder or a module under messages/."""
    names = {p.name for p in TEMPLATES.iterdir() if p.is_dir()}
    names |= {p.stem for p in HERE.glob("*.py") if p.stem not in NOT_FEATURES}
    return sorted(names)


def extract(feature: str) -> Catalog:
    """Collect every marked message of one feature."""
    catalog = Catalog(locale=None, project="incident-bot", charset="utf-8")
    folder = TEMPLATES / feature
    if folder.is_dir():
        for filename, lineno, message, comments, context in extract_from_dir(
            str(folder),
            method_map=[("**.j2", "jinja2.ext:babel_extract")],
            options_map={"**.j2": JINJA_OPTIONS},
            keywords=KEYWORDS,
        ):
            catalog.add(
                message,
                None,
                [(f"templates/{feature}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    module = HERE / f"{feature}.py"
    if module.exists():
        for lineno, message, comments, context in extract_from_file(
            "python", str(module), keywords=KEYWORDS
        ):
            catalog.add(
                message, None, [(f"{feature}.py", lineno)], auto_comments=comments, context=context
            )
    return catalog


def po_path(language: str, feature: str) -> Path:
    """Where a feature's catalog for a language lives."""
    return LOCALES / language / "LC_MESSAGES" / f"{feature}.po"


def read_catalog(path: Path, language: str) -> Catalog:
    """Read a .po file, or an empty catalog if it does not exist."""
    if not path.exists():
        return Catalog(locale=language, project="incident-bot", charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def update() -> None:
    """Add new messages to every catalog and drop the ones no code uses any more."""
    for language in TRANSLATED:
        for feature in features():
            template = extract(feature)
            path = po_path(language, feature)
            catalog = read_catalog(path, language)
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, omit_header=False, sort_output=False)


def problems() -> list[str]:
    """Messages the code uses that a catalog lacks, or translates with other placeholders."""
    found: list[str] = []
    for language in TRANSLATED:
        for feature in features():
            catalog = read_catalog(po_path(language, feature), language)
            for message in extract(feature):
                if not message.id:
                    continue
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                entry = catalog.get(message.id)
                where = f"{language}/{feature}.po"
                if entry is None or not entry.string or entry.fuzzy:
                    found.append(f"{where}: no translation for {ids[0]!r}")
                    continue
                strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
                wanted = set(_PLACEHOLDER.findall(str(ids[0])))
                for text in strings:
                    if set(_PLACEHOLDER.findall(str(text))) != wanted:
                        found.append(f"{where}: placeholders differ for {ids[0]!r}")
    return found


def todo(language: str = "zh_CN") -> dict[str, str]:
    """Every message still lacking a translation, as {msgid: ""} for a translator to fill."""
    missing: dict[str, str] = {}
    for feature in features():
        catalog = read_catalog(po_path(language, feature), language)
        for message in catalog:
            if message.id and isinstance(message.id, str) and (not message.string or message.fuzzy):
                missing[message.id] = ""
    return missing


def apply(translated: dict[str, str], language: str = "zh_CN") -> int:
    """Write translations {msgid: msgstr} into whichever catalogs hold those messages."""
    count = 0
    for feature in features():
        path = po_path(language, feature)
        catalog = read_catalog(path, language)
        changed = False
        for message in catalog:
            if isinstance(message.id, str) and translated.get(message.id):
                message.string = translated[message.id]
                message.flags.discard("fuzzy")
                changed = True
                count += 1
        if changed:
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, sort_output=False)
    return count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m messages.catalog")
    parser.add_argument("action", choices=["update", "check", "todo", "apply"])
    parser.add_argument("file", nargs="?", help="for apply: a JSON file {msgid: msgstr}")
    args = parser.parse_args(argv)
    if args.action == "todo":
        print(json.dumps(todo(), ensure_ascii=False, indent=1))
        return 0
    if args.action == "apply":
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
        print(f"{apply(data)} translations written")
        return 0
    if args.action == "update":
        update()
    missing = problems()
    for line in missing:
        print(line)
    return 1 if missing and args.action == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
