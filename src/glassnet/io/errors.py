"""The one error of model files: ModelFileError, whose message is one line of bounded length."""

from __future__ import annotations

MAX_MESSAGE = 1000  # characters: a hostile file must not turn its error into megabytes of text


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, cut to ``limit`` characters with a note of how much was left out."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class ModelFileError(ValueError):
    """A file that is missing, corrupt, not a glassnet model, or inconsistent with what it claims."""

    def __init__(self, message: str) -> None:
        super().__init__(shorten(message))
