"""Frame times of the demos' headless bots: what a pygame loop with one ``tick()`` a frame costs.

Run: ``python bench/bench_demos.py [--write] [--quick]``. Each run starts the demo's dev
server, then N bots as ``python -m demos.<demo> --bot --seconds S --server URL --client K``
(SDL's dummy video driver, every frame fully drawn, ``--fps 60``, ``Client(budget_ms=2.0)``),
and reads their one-line JSON summaries. Frame times are wall-clock intervals between
frames, so a loaded machine shows in them; the loop's CPU time per frame is what other
processes cannot inflate. ``--write`` puts the table in ``docs/benchmarks.md`` between the
``bench:demos`` markers. ``--quick`` runs each case for 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DOC, ROOT, Machine, write_section

from demos.common import DEMOS
from stdb_game.devserver.launcher import start_dev_server

#: (demo, bots, seconds): one player of each demo, then four arena players at once.
CASES = (("arena", 1, 8.0), ("chat", 1, 4.0), ("arena", 4, 12.0))


@dataclass
class Case:
    demo: str
    bots: int
    seconds: float
    summaries: list[dict[str, Any]]

    def label(self) -> str:
        who = "1 bot" if self.bots == 1 else f"{self.bots} bots + dev server"
        each = " (per bot)" if self.bots > 1 else ""
        return f"{self.demo}, {who}, {self.seconds:g} s{each}"

    def span(self, key: str, section: str = "timing", digits: int = 1) -> str:
        """The value over the bots: one figure, or min-max."""
        values = [float(s[section][key]) for s in self.summaries]
        lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
        return lo if lo == hi else f"{lo}-{hi}"

    def traffic(self) -> tuple[float, float]:
        """Mean messages/s and KB/s received per bot."""
        msgs = [s["net"]["messages"] / s["seconds"] for s in self.summaries]
        kbs = [s["net"]["bytes_in"] / s["seconds"] / 1000 for s in self.summaries]
        return sum(msgs) / len(msgs), sum(kbs) / len(kbs)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1")
    env.update(HOME=str(home), USERPROFILE=str(home))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def run_case(demo: str, bots: int, seconds: float) -> Case:
    """Start the dev server and ``bots`` bots on it; their summaries."""
    home = Path(tempfile.mkdtemp(prefix="bench-demos-"))
    with start_dev_server(DEMOS[demo].module, extra_args=["--log-level", "WARNING"]) as server:
        base = [sys.executable, "-m", f"demos.{demo}", "--bot", "--seconds", f"{seconds:g}"]
        base += ["--server", server.url, "--database", server.database]
        procs = [
            subprocess.Popen(
                [*base, "--client", str(k)],
                cwd=ROOT,
                env=_env(home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(1, bots + 1)
        ]
        summaries = []
        for proc in procs:
            out, err = proc.communicate(timeout=seconds + 120)
            if proc.returncode != 0:
                raise RuntimeError(f"{demo} bot exited {proc.returncode}: {err.strip()[-500:]}")
            summaries.append(json.loads(out.strip().splitlines()[-1]))
    return Case(demo, bots, seconds, summaries)


def table(cases: list[Case], machine: Machine) -> str:
    lines = [
        "Headless bot runs of the demos (`bench/bench_demos.py`: `python -m demos.<demo> --bot "
        "--seconds N` against the demo's dev server, `Client(budget_ms=2.0)`, "
        "`incremental_decode_bytes=8 KiB`, `--fps 60`, SDL dummy video driver, every frame "
        f"fully drawn; {machine.line()}; the machine is shared with other jobs). Frame = "
        "interval between frames; CPU = the loop's own CPU time per frame (input, `tick()`, "
        "update, drawing), which other processes cannot inflate; tick = wall time inside "
        "`client.tick()`.",
        "",
        "| run | frames | FPS | frame p50 / p99 | CPU p50 / p99 | tick p50 / p99 / max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        lines.append(
            f"| {c.label()} | {c.span('frames', digits=0)} | {c.span('fps')} | "
            f"{c.span('frame_p50_ms')} / {c.span('frame_p99_ms')} ms | "
            f"{c.span('cpu_p50_ms', digits=2)} / {c.span('cpu_p99_ms', digits=2)} ms | "
            f"{c.span('tick_p50_ms', digits=2)} / {c.span('tick_p99_ms', digits=2)} / "
            f"{c.span('tick_max_ms')} ms |"
        )
    lines.append("")
    for c in cases:
        msgs, kbs = c.traffic()
        exhausted = sum(s["timing"]["budget_exhausted_frames"] for s in c.summaries)
        lines.append(
            f"- {c.label()}: {msgs:.0f} messages/s and {kbs:.1f} KB/s in per bot; "
            f"{exhausted} frame(s) ran out of the 2 ms tick budget in all."
        )
    lines += [
        "",
        "A 60 FPS frame has 16.7 ms. The CPU columns are the client's cost; with several bots "
        "the frame and tick wall times also hold the time the OS gave the other bots and the "
        "Python dev server (simulating at 20 Hz) on the same cores.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    machine = Machine()
    cases = [run_case(d, n, 2.0 if quick else s) for d, n, s in CASES]
    machine.load_after = Machine().load_before
    text = table(cases, machine)
    print(text)
    if "--write" in args:
        write_section("demos", text, DOC)
        print(f"\nwritten to {DOC}")
    return text


if __name__ == "__main__":
    main()
