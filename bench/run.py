"""Run the benchmarks and write their figures to docs/benchmarks.md.

Usage: python -m bench.run [pytest arguments, e.g. bench/bench_store.py]

Runs pytest-benchmark on bench/ (or the files given). Then, for each
benchmark module that ran, it rewrites that module's section of
docs/benchmarks.md. A section has one table per benchmark group, with the
per-operation time of every variant (backend or implementation) and its
ratio to the first variant, plus the command and the machine. Sections of
modules that did not run are kept.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import platform
import re
import shlex
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"
PAGE_HEADER = """# Benchmarks

Figures from `python -m bench.run`, which runs the pytest-benchmark suites
in bench/ and rewrites the section of each suite it ran. Each section names
the command and the machine. The machines are shared and noisy, so compare
the variants within one table (measured in the same run) by their ratio,
not absolute times across sections.
"""


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    etcd = "etcd not installed"
    try:
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True, timeout=10).stdout
        etcd = out.splitlines()[0] if out else etcd
    except (OSError, subprocess.SubprocessError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Linux {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {etcd}"
    )


def format_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e9:.0f} ns"


def variant_of(bench: dict[str, Any]) -> str:
    params = bench.get("params") or {}
    if params:
        return ", ".join(str(v) for v in params.values())
    return str(bench["name"])


def module_notes(module: str) -> str:
    """Return the bench module's docstring without its summary line: what it measures and how."""
    path = ROOT / "bench" / f"bench_{module}.py"
    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except (OSError, SyntaxError):
        return ""
    return doc.partition("\n\n")[2].strip()


def format_figure(value: float) -> str:
    """Format a recorded figure with its leading digits and no exponent: 1,234,567, 12.3 or 0.456."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def other_figures(bench: dict[str, Any]) -> str:
    """Format the figures a benchmark recorded in extra_info besides "ops", as name=value pairs."""
    pairs = []
    for name, value in sorted(bench.get("extra_info", {}).items()):
        if name == "ops":
            continue
        text = format_figure(value) if isinstance(value, float) else str(value)
        pairs.append(f"{name}={text}")
    return ", ".join(pairs)


def render_section(module: str, benches: list[dict[str, Any]], command: str, machine: str) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bench in benches:
        groups[bench.get("group") or bench["name"]].append(bench)
    today = datetime.date.today().isoformat()
    lines = [
        f"<!-- bench:{module} -->",
        f"## {module}",
        "",
        f"Command: `{command}` ({today})  ",
        f"Machine: {machine}",
        "",
        module_notes(module),
        "",
        "| benchmark | variant | median per op | ops/s | ratio to first | other figures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for group, items in groups.items():
        base = None
        for bench in items:
            ops = int(bench.get("extra_info", {}).get("ops", 1))
            per_op = bench["stats"]["median"] / ops
            base = base or per_op
            lines.append(
                f"| {group} | {variant_of(bench)} | {format_time(per_op)} | "
                f"{format_figure(1 / per_op)} | {per_op / base:.3g}× | {other_figures(bench)} |"
            )
    lines += ["", f"<!-- /bench:{module} -->"]
    return "\n".join(lines)


def update_page(sections: dict[str, str]) -> None:
    text = PAGE.read_text() if PAGE.exists() else PAGE_HEADER
    for module, section in sections.items():
        pattern = re.compile(rf"<!-- bench:{re.escape(module)} -->.*?<!-- /bench:{re.escape(module)} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: section, text)
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)


def main(argv: list[str]) -> int:
    targets = argv or ["bench"]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-o", "python_files=bench_*.py", "-o", "python_functions=bench_*",
            f"--benchmark-json={report}", "--benchmark-columns=median,ops,rounds", *targets,
        ]
        status = subprocess.call(command, cwd=ROOT)
        if status != 0 or not report.exists():
            print(f"bench: pytest exited with {status}; docs/benchmarks.md not changed", file=sys.stderr)
            return status or 1
        data = json.loads(report.read_text())
    by_module: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bench in data["benchmarks"]:
        module = Path(bench["fullname"].split("::")[0]).stem.removeprefix("bench_")
        by_module[module].append(bench)
    command_line = "python -m bench.run " + " ".join(shlex.quote(a) for a in argv)
    machine = machine_description()
    update_page({m: render_section(m, b, command_line.strip(), machine) for m, b in by_module.items()})
    print(f"bench: wrote {', '.join(sorted(by_module))} to {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
