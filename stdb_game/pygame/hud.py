"""A network overlay (toggle with F3) and a connection banner for pygame games.

``NetworkHUD`` shows what a player or developer needs when the game feels off: round-trip
time (send to the tick that read the answer; the tick interval is its resolution) and
call-to-callback time, messages and bytes per second, the inbound queue, how long ``tick()`` takes against
its budget, frame times and the reconnect state. Feed it each frame's ``TickStats``::

    hud = NetworkHUD(client)
    while running:
        for event in pygame.event.get():
            hud.handle_event(event)
        stats = client.tick()
        hud.record(stats, frame_seconds)
        ...draw the game...
        hud.draw(screen)

``ConnectionStatus`` follows connects, drops and reconnects through the client's callbacks
so the game can say "reconnecting..." instead of freezing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import pygame

from ..client import Client, ClientState, DisconnectKind, DisconnectReason, TickStats
from ..sats.values import ConnectionId, Identity
from .timing import percentile

__all__ = ["ConnectionStatus", "NetworkHUD", "draw_connection_banner"]

Color = tuple[int, int, int]

TEXT: Color = (220, 226, 235)
DIM: Color = (140, 150, 165)
GOOD: Color = (110, 220, 140)
WARN: Color = (250, 200, 90)
BAD: Color = (250, 110, 100)
PANEL = (12, 16, 24, 200)


class ConnectionStatus:
    """Tracks the connection through the client's callbacks, for banners and overlays."""

    def __init__(self, client: Client, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self.connects = 0
        self.drops = 0
        self.last_reason: DisconnectReason | None = None
        self.down_since: float | None = None
        self.gave_up: BaseException | None = None
        client.on_connect(self._connected)
        client.on_disconnect(self._dropped)
        client.on_reconnect(self._reconnected)
        client.on_connect_error(self._failed)

    def _connected(self, _identity: Identity, _token: str, _conn: ConnectionId) -> None:
        self.connects += 1

    def _dropped(self, reason: DisconnectReason) -> None:
        if reason.kind is DisconnectKind.LOCAL:
            return  # the game closed it on purpose
        self.drops += 1
        self.last_reason = reason
        if self.down_since is None:
            self.down_since = self._clock()

    def _reconnected(self) -> None:
        self.down_since = None

    def _failed(self, error: BaseException) -> None:
        if self.client.state is ClientState.DISCONNECTED:
            self.gave_up = error

    @property
    def state(self) -> ClientState:
        return self.client.state

    @property
    def is_down(self) -> bool:
        """True while the game is not receiving updates (dropped, reconnecting, gave up)."""
        return self.client.state is not ClientState.CONNECTED or self.down_since is not None

    def down_for(self) -> float:
        """Seconds since the connection dropped (0 when it is up)."""
        return 0.0 if self.down_since is None else self._clock() - self.down_since

    def message(self) -> str | None:
        """One line for a banner, or None when everything is fine."""
        state = self.client.state
        if state is ClientState.CONNECTED and self.down_since is None:
            return None
        why = self.last_reason.describe() if self.last_reason is not None else ""
        if state is ClientState.RECONNECTING or (
            state is ClientState.CONNECTED and self.down_since is not None
        ):
            return f"Connection lost ({why}); reconnecting... {self.down_for():.0f}s"
        if state is ClientState.CONNECTING:
            return "Connecting..."
        if state is ClientState.CLOSED:
            return "Disconnected."
        if self.gave_up is not None:
            return f"Disconnected: {self.gave_up}"
        return f"Disconnected{': ' + why if why else ''}"


def draw_connection_banner(
    surface: pygame.Surface, status: ConnectionStatus, font: pygame.font.Font
) -> pygame.Rect | None:
    """Draw the status line across the top of ``surface`` when the connection is not fine."""
    text = status.message()
    if text is None:
        return None
    color = WARN if status.state in (ClientState.RECONNECTING, ClientState.CONNECTING) else BAD
    label = font.render(text, True, (20, 20, 24))
    rect = pygame.Rect(0, 0, surface.get_width(), label.get_height() + 12)
    surface.fill(color, rect)
    surface.blit(label, label.get_rect(center=rect.center))
    return rect


class NetworkHUD:
    """The F3 network overlay: live figures and two small graphs (tick and frame time)."""

    def __init__(
        self,
        client: Client,
        *,
        visible: bool = False,
        font_size: int = 18,
        toggle_key: int = pygame.K_F3,
        history: int = 120,
        status: ConnectionStatus | None = None,
    ) -> None:
        self.client = client
        self.visible = visible
        self.toggle_key = toggle_key
        self.font_size = font_size
        self.status = status
        self._font: pygame.font.Font | None = None
        self.tick_ms: deque[float] = deque(maxlen=history)
        self.frame_ms: deque[float] = deque(maxlen=history)
        self.last: TickStats | None = None
        self._budget_hits: deque[tuple[float, bool]] = deque(maxlen=history)

    # ---- input and data -------------------------------------------------------------------

    def toggle(self) -> None:
        self.visible = not self.visible

    def handle_event(self, event: pygame.event.Event) -> bool:
        """Toggle on the HUD key; True when the event was ours."""
        if event.type == pygame.KEYDOWN and event.key == self.toggle_key:
            self.toggle()
            return True
        return False

    def record(self, stats: TickStats, frame_seconds: float) -> None:
        """Remember this frame's tick statistics and frame interval."""
        self.last = stats
        self.tick_ms.append(stats.elapsed * 1000.0)
        self.frame_ms.append(frame_seconds * 1000.0)
        self._budget_hits.append((time.monotonic(), stats.budget_exhausted))

    # ---- text -----------------------------------------------------------------------------

    def lines(self) -> list[tuple[str, Color]]:
        """The overlay's text, one (line, colour) per row; usable without a display."""
        c = self.client
        st = c.stats
        msgs, bin_, bout = st.rates()
        out: list[tuple[str, Color]] = []
        state = c.state
        state_color = GOOD if state is ClientState.CONNECTED else WARN
        if state in (ClientState.DISCONNECTED, ClientState.CLOSED):
            state_color = BAD
        out.append((f"{state.value.upper()}  {c.database} @ {c.uri}", state_color))
        if self.status is not None and self.status.last_reason is not None:
            down = self.status.down_for()
            tail = f" ({down:.0f}s ago)" if down else ""
            out.append((f"last drop: {self.status.last_reason.describe()}{tail}", DIM))
        if st.last_rtt is None:
            out.append(("rtt  - (no reducer call answered yet)", DIM))
        else:
            mean = st.mean_rtt or 0.0
            rtt_color = GOOD if st.last_rtt < 0.1 else WARN if st.last_rtt < 0.3 else BAD
            line = f"rtt  {st.last_rtt * 1000:6.1f} ms   mean {mean * 1000:.1f} ms"
            if st.last_call_to_callback is not None:
                # Call to callback: the round trip plus the answer's wait in the queue.
                line += f"   to callback {st.last_call_to_callback * 1000:.1f} ms"
            out.append((line, rtt_color))
        out.append((f"in   {msgs:6.1f} msg/s  {_kb(bin_)}/s   out {_kb(bout)}/s", TEXT))
        last = self.last
        depth = last.queue_depth if last else c.queue_depth
        age = last.oldest_queued_age * 1000 if last else 0.0
        hits = sum(1 for _t, hit in self._budget_hits if hit)
        out.append(
            (
                f"queue {depth:4d}   oldest {age:5.1f} ms   budget hit {hits}/{len(self._budget_hits)}",
                WARN if depth > 50 else TEXT,
            )
        )
        ticks = list(self.tick_ms)
        budget = c.budget_ms
        p99 = percentile(ticks, 99)
        tick_color = TEXT if budget is None or p99 <= budget * 1.5 else WARN
        out.append(
            (
                f"tick {ticks[-1] if ticks else 0.0:5.2f} ms  p99 {p99:5.2f}  max {max(ticks, default=0.0):5.2f}"
                f"  budget {budget if budget is not None else '-'} ms",
                tick_color,
            )
        )
        frames = list(self.frame_ms)
        total = sum(frames)
        fps = len(frames) * 1000.0 / total if total > 0 else 0.0
        out.append(
            (
                f"frame {frames[-1] if frames else 0.0:5.1f} ms  p99 {percentile(frames, 99):5.1f}  {fps:5.1f} fps",
                TEXT,
            )
        )
        out.append(
            (
                f"reconnects {st.reconnects}   totals {st.messages_applied} msgs  {_kb(st.bytes_in)} in",
                TEXT if st.reconnects == 0 else WARN,
            )
        )
        return out

    # ---- drawing --------------------------------------------------------------------------

    @property
    def font(self) -> pygame.font.Font:
        if self._font is None:
            self._font = pygame.font.Font(None, self.font_size)
        return self._font

    def draw(self, surface: pygame.Surface, pos: tuple[int, int] = (8, 8)) -> pygame.Rect | None:
        """Draw the overlay at ``pos`` when visible; returns the area it covered."""
        if not self.visible:
            return None
        font = self.font
        rows = [font.render(text, True, color) for text, color in self.lines()]
        line_h = font.get_linesize()
        graph_h = 36
        width = max([r.get_width() for r in rows] + [260]) + 16
        height = line_h * len(rows) + 2 * graph_h + 30
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill(PANEL)
        y = 8
        for r in rows:
            panel.blit(r, (8, y))
            y += line_h
        y += 4
        budget = self.client.budget_ms
        self._graph(panel, pygame.Rect(8, y, width - 16, graph_h), self.tick_ms, budget, "tick ms")
        y += graph_h + 6
        self._graph(
            panel, pygame.Rect(8, y, width - 16, graph_h), self.frame_ms, 1000 / 60, "frame ms"
        )
        surface.blit(panel, pos)
        return pygame.Rect(pos, (width, height))

    def _graph(
        self,
        panel: pygame.Surface,
        rect: pygame.Rect,
        values: deque[float],
        target: float | None,
        label: str,
    ) -> None:
        """Bars of recent values scaled to the larger of twice the target and the maximum."""
        pygame.draw.rect(panel, (30, 36, 48, 230), rect)
        top = max([*values, (target or 1.0) * 2.0])
        n = values.maxlen or len(values) or 1
        bar_w = rect.width / n
        for i, v in enumerate(values):
            h = max(1, int(rect.height * min(v, top) / top))
            over = target is not None and v > target * 1.2  # small jitter is not a problem
            color = (240, 120, 90) if over else (90, 170, 240)
            x = rect.x + int(i * bar_w)
            pygame.draw.rect(panel, color, (x, rect.bottom - h, max(1, int(bar_w)), h))
        if target is not None:
            ty = rect.bottom - int(rect.height * target / top)
            pygame.draw.line(panel, (250, 220, 120), (rect.x, ty), (rect.right, ty))
        tag = self.font.render(label, True, DIM)
        panel.blit(tag, (rect.right - tag.get_width() - 2, rect.y + 1))


def _kb(n: float) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n:.0f} B"
