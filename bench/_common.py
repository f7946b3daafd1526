"""Shared pieces of the bench suite: the machine record, timing helpers, the docs writer,
and installing the official TypeScript SDK for the side-by-side runs."""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
TS_SDK_VERSION = "1.12.0"


# ---- the machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


@dataclass
class Machine:
    cpu: str = field(default_factory=cpu_model)
    cores: int = field(default_factory=lambda: os.cpu_count() or 0)
    python: str = field(default_factory=lambda: platform.python_version())
    implementation: str = field(default_factory=platform.python_implementation)
    date: str = field(default_factory=lambda: dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    load_before: str = field(default_factory=load_average)
    load_after: str = ""
    node: str | None = None

    def line(self) -> str:
        """One line recorded with every table."""
        node = f", node {self.node}" if self.node else ""
        after = f" -> {self.load_after}" if self.load_after else ""
        return (
            f"{self.date}; {self.cpu}, {self.cores} cores; {self.implementation} "
            f"{self.python}{node}; load average {self.load_before}{after} (1/5/15 min)"
        )


# ---- timing --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[k]


def median(values: Sequence[float]) -> float:
    return percentile(values, 0.5)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) of one call, after a full collection."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - w0, time.thread_time() - c0


def per_call(fn: Callable[[], object], calls: int, repeats: int = 5) -> tuple[float, float]:
    """Best-of-``repeats`` (wall, CPU) seconds per call of ``fn``."""
    best_w = best_c = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        best_w = min(best_w, (time.perf_counter() - w0) / calls)
        best_c = min(best_c, (time.thread_time() - c0) / calls)
    return best_w, best_c


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    if us >= 1000:
        return f"{us / 1000:,.1f} ms"
    if us >= 100:
        return f"{us:,.0f} µs"
    return f"{us:.1f} µs"


def fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M"
    return f"{per_second / 1e3:.0f} k"


# ---- docs/benchmarks.md --------------------------------------------------------------------

HEADER = """# Benchmarks

What networking costs a game loop, measured by the scripts in `bench/`. `python bench/run.py`
runs the suite and prints every table; `--write` puts them here, between the
`<!-- bench:NAME -->` markers (other sections are left alone; each section names the script
that writes it). `--quick` runs tiny sizes and skips node, for the smoke test.

How to read the figures: each table records the machine, Python version, date and load
average of its run. Figures are **ratios and percentiles from one run**: the official SDK
and ours are timed in the same run on the same bytes, alternating case by case, so the
ratio holds even where the absolute numbers move with the machine. Wall times are
best-of-N; CPU times (this thread's, `time.thread_time`) are what other processes on a
shared machine cannot inflate. No unit test asserts any of these figures.
"""

#: Sections in the order a fresh docs/benchmarks.md lists them.
SECTION_ORDER = ("summary", "decode", "profile", "cache", "tick", "legacy")
SECTION_TITLES = {
    "summary": "Targets (issue #9)",
    "decode": "Decode and apply: ours and the official TypeScript SDK on the same frames",
    "profile": "Where the time goes",
    "cache": "Cache apply",
    "tick": "Tick cost and round trips over a real WebSocket",
    "legacy": "The old PyPI spacetimedb-sdk 0.7.0",
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace the ``name`` section of docs/benchmarks.md (adding it if missing)."""
    start, end = markers(name)
    text = doc.read_text() if doc.exists() else HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = _insert_section(text, name, block)
    doc.write_text(text)


def _insert_section(text: str, name: str, block: str) -> str:
    """Put a new section after the last of ours that precedes it, else after the header."""
    title = SECTION_TITLES.get(name, name)
    new = f"## {title}\n\n{block}\n\n"
    order = list(SECTION_ORDER)
    if name in order:
        for prev in reversed(order[: order.index(name)]):
            _, prev_end = markers(prev)
            if prev_end in text:
                i = text.index(prev_end) + len(prev_end)
                return text[:i] + "\n\n" + new.rstrip() + "\n" + text[i:]
    # Before the first section that is not ours (others' sections stay where they are).
    i = text.find("\n## ")
    if i < 0:
        return text.rstrip() + "\n\n" + new
    return text[: i + 1] + new + text[i + 1 :]


def ensure_header(doc: Path = DOC) -> None:
    """Give docs/benchmarks.md our header (the title and how to read the figures)."""
    text = doc.read_text() if doc.exists() else ""
    if text.startswith(HEADER):
        return
    i = text.find("\n## ")
    rest = text[i + 1 :] if i >= 0 else ""
    doc.write_text(HEADER + "\n" + rest)


# ---- the official TypeScript SDK -----------------------------------------------------------


def ts_sdk_dir() -> tuple[Path | None, str]:
    """A folder with ``spacetimedb@1.12.0`` installed (``npm ci`` from bench/ts's lockfile
    into a temp folder, reused across runs), or None and the reason."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node or npm is not installed"
    folder = Path(tempfile.gettempdir()) / f"stdb-game-bench-ts-{TS_SDK_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "decode_bench.mjs"):
        src = BENCH / "ts" / name
        dst = folder / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
    manifest = folder / "node_modules" / "spacetimedb" / "package.json"
    if not manifest.exists() or f'"version": "{TS_SDK_VERSION}"' not in manifest.read_text():
        try:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"npm ci failed: {exc}"
        if proc.returncode != 0:
            return None, f"npm ci failed: {proc.stderr.strip()[-300:]}"
    return folder, ""


def python_exe() -> str:
    return sys.executable
