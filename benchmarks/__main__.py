"""`make bench`: run every benchmark in its own process and gather the figures."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.common import RESULTS

BENCHMARKS = ["broadcast", "fanout", "updates", "footprint"]


def main() -> int:
    """Run the benchmarks named on the command line (default: all) and write latest.json."""
    names = sys.argv[1:] or BENCHMARKS
    failed = []
    for name in names:
        print(f"== benchmark: {name}", file=sys.stderr, flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False).returncode:
            failed.append(name)
    gathered = {}
    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            gathered[name] = json.loads(path.read_text(encoding="utf-8"))
    (RESULTS / "latest.json").write_text(
        json.dumps(gathered, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
