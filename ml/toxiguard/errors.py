"""Input problems, reported by file, row and column: shared by every command that reads a user's file, so the CLI
can report them without importing the part that found them. Standard library only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Problem:
    source: str
    row: int | None
    column: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line is not None else ""))
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


class DataError(Exception):
    """The input cannot be used; `problems` lists each place that is wrong."""

    def __init__(self, problems: Sequence[Problem], truncated: bool = False):
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        if truncated:
            lines.append(f"... stopped after {len(self.problems)} problems")
        super().__init__("\n".join(lines))
