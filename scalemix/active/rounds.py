"""The round log of a closed loop (``<out>.rounds.jsonl``): one JSON object per round, read by the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scalemix.errors import SuggestError


def read_log(path) -> list[dict[str, Any]]:
    """The records of a round log (``<out>.rounds.jsonl``), in order. Raises :class:`SuggestError` naming the
    file and line that is not a JSON object with a ``round``."""
    path = Path(path)
    if not path.is_file():
        raise SuggestError(f"{path}: no such round log; `scalemix loop --out RUNS` writes RUNS.rounds.jsonl beside the table")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise SuggestError(f"{path} line {number}: not JSON ({e.msg}); the round log is one JSON object per line") from None
        if not isinstance(record, dict) or "round" not in record:
            raise SuggestError(f"{path} line {number}: not a round record (no 'round'); give the log `scalemix loop` wrote")
        records.append(record)
    return records


def append(log: Path, record: dict) -> None:
    """Add ``record`` to the round log ``log`` as one JSON line."""
    with log.open("a") as handle:
        handle.write(json.dumps(record, default=float) + "\n")
