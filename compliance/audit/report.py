"""What a verification found: `Problem` (one broken link), `VerifyReport`, and the capped,
ordered collector both `verify` and `verify_export` fill.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# Problems kept in a report; every problem is still counted.
MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One broken link: where (stream and seq, or a checkpoint) and what is wrong."""

    message: str
    stream: str | None = None
    seq: int | None = None
    checkpoint_id: int | None = None

    def where(self) -> str:
        """`stream loan:5 seq 7`, `checkpoint 3 stream loan:5 seq 7`, `checkpoint 3`."""
        parts = []
        if self.checkpoint_id is not None:
            parts.append(f"checkpoint {self.checkpoint_id}")
        if self.stream is not None:
            parts.append(f"stream {self.stream}")
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        return " ".join(parts) or "trail"

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    """What a verification checked and every problem it found (the first `MAX_PROBLEMS` kept)."""

    events: int
    streams: int
    checkpoints: int
    problems: tuple[Problem, ...]
    problem_count: int

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        """The first broken link: lowest stream and seq, stream chains before checkpoints."""
        return self.problems[0] if self.problems else None


@dataclass
class _Problems:
    """Problems kept in report order (stream chains, then checkpoints), capped, all counted."""

    kept: list[tuple[tuple[Any, ...], Problem]] = field(default_factory=list)
    count: int = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if problem.checkpoint_id is None:
            key: tuple[Any, ...] = (0, problem.stream or "", problem.seq or 0, self.count)
        else:
            key = (1, problem.checkpoint_id, problem.stream or "", problem.seq or 0, self.count)
        bisect.insort(self.kept, (key, problem), key=lambda pair: pair[0])
        del self.kept[MAX_PROBLEMS:]

    def report(self, *, events: int, streams: int, checkpoints: int) -> VerifyReport:
        return VerifyReport(
            events=events,
            streams=streams,
            checkpoints=checkpoints,
            problems=tuple(problem for _, problem in self.kept),
            problem_count=self.count,
        )


def _short(digest: str) -> str:
    return digest[:12] + "…"
