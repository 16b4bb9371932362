"""The progress callback every long-running job accepts: ``progress(done, total, phase)``.

Library functions call it as they go (the CLI draws a Rich bar from it, tests may ignore it);
one definition, so every job reports the same way."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]

__all__ = ["Progress"]
