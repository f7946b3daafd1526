"""The chat's one-line text editor, without pygame: cursor moves, deletes and input history."""

from __future__ import annotations

__all__ = ["LineEditor"]


class LineEditor:
    """A line of text with a cursor and an up/down history of submitted lines, like a shell."""

    def __init__(self, max_length: int = 500, history_size: int = 100) -> None:
        self.text = ""
        self.cursor = 0
        self.max_length = max_length
        self.history: list[str] = []
        self.history_size = history_size
        self._browse: int | None = None  # index into history while browsing it
        self._draft = ""  # what was typed before browsing started

    def insert(self, chars: str) -> None:
        """Type ``chars`` at the cursor (newlines become spaces; past max_length is dropped)."""
        chars = chars.replace("\r", "").replace("\n", " ")
        room = self.max_length - len(self.text)
        chars = chars[: max(0, room)]
        self.text = self.text[: self.cursor] + chars + self.text[self.cursor :]
        self.cursor += len(chars)

    def backspace(self, word: bool = False) -> None:
        """Delete before the cursor: one character, or back to the start of the word."""
        if self.cursor == 0:
            return
        start = self._word_left() if word else self.cursor - 1
        self.text = self.text[:start] + self.text[self.cursor :]
        self.cursor = start

    def delete(self, word: bool = False) -> None:
        """Delete after the cursor: one character, or to the end of the word."""
        if self.cursor >= len(self.text):
            return
        end = self._word_right() if word else self.cursor + 1
        self.text = self.text[: self.cursor] + self.text[end:]

    def left(self, word: bool = False) -> None:
        self.cursor = self._word_left() if word else max(0, self.cursor - 1)

    def right(self, word: bool = False) -> None:
        self.cursor = self._word_right() if word else min(len(self.text), self.cursor + 1)

    def home(self) -> None:
        self.cursor = 0

    def end(self) -> None:
        self.cursor = len(self.text)

    def clear(self) -> None:
        self.text = ""
        self.cursor = 0
        self._browse = None

    def history_up(self) -> None:
        """Show the previous submitted line (the draft is kept to come back to)."""
        if not self.history:
            return
        if self._browse is None:
            self._draft = self.text
            self._browse = len(self.history)
        if self._browse > 0:
            self._browse -= 1
            self._set(self.history[self._browse])

    def history_down(self) -> None:
        """Show the next submitted line, then the draft."""
        if self._browse is None:
            return
        self._browse += 1
        if self._browse >= len(self.history):
            self._browse = None
            self._set(self._draft)
        else:
            self._set(self.history[self._browse])

    def submit(self) -> str:
        """Take the line (it goes into the history unless empty or a repeat) and clear."""
        line = self.text
        if line.strip() and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[: -self.history_size]
        self.clear()
        self._draft = ""
        return line

    def _set(self, text: str) -> None:
        self.text = text
        self.cursor = len(text)

    def _word_left(self) -> int:
        i = self.cursor
        while i > 0 and self.text[i - 1].isspace():
            i -= 1
        while i > 0 and not self.text[i - 1].isspace():
            i -= 1
        return i

    def _word_right(self) -> int:
        i, n = self.cursor, len(self.text)
        while i < n and self.text[i].isspace():
            i += 1
        while i < n and not self.text[i].isspace():
            i += 1
        return i
