"""The report of an import or a dry run: one outcome and reason per row, and its CSV."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int
    email: str
    outcome: str
    reason: str


@dataclass
class ImportReport:
    results: list[RowResult]
    applied: bool
    #: Confirmation mails published now / left for the mail sweeper (about 1,000 a minute).
    mails_now: int = 0
    mails_later: int = 0
    import_id: str = ""
    #: Where an apply in steps goes on (None: finished, or not started for a preview).
    next_row: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.outcome for r in self.results)
        return {outcome.value: found.get(outcome.value, 0) for outcome in Outcome}

    @property
    def reasons(self) -> list[tuple[str, str, int]]:
        """(outcome, reason, rows), most frequent first."""
        found = Counter((r.outcome, r.reason) for r in self.results)
        return [(o, reason, n) for (o, reason), n in found.most_common()]

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [[r.line, r.email, r.outcome, r.reason] for r in self.results],
            "applied": self.applied,
            "mails_now": self.mails_now,
            "mails_later": self.mails_later,
            "import_id": self.import_id,
            "next_row": self.next_row,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ImportReport":
        return cls(
            results=[RowResult(*row) for row in data["results"]],
            applied=data["applied"],
            mails_now=data.get("mails_now", 0),
            mails_later=data.get("mails_later", 0),
            import_id=data.get("import_id", ""),
            next_row=data.get("next_row"),
        )


def report_csv_rows(report: ImportReport) -> Iterator[list[Any]]:
    for r in report.results:
        yield [r.line, r.email, r.outcome, r.reason]
