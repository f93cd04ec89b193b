"""Stage records: what lets a run reuse finished stages and redo only what changed.

Each stage directory holds a ``record.json`` written *last*, atomically, after the
stage's outputs. A stage is reused when its record exists, its config hash and input
hash match, and its outputs still have the fingerprints recorded. A stage killed
mid-way has no record and is run again (stages themselves resume partial work).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskforge._io import atomic_write_json, file_fingerprint, stable_hash

RECORD = "record.json"


@dataclass
class StageRecord:
    stage: str
    config_hash: str
    input_hash: str
    outputs: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    finished_at: str = ""
    reused: bool = False

    @property
    def output_hash(self) -> str:
        return stable_hash(self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "config_hash": self.config_hash,
            "input_hash": self.input_hash,
            "outputs": self.outputs,
            "counts": self.counts,
            "seconds": round(self.seconds, 3),
            "finished_at": self.finished_at,
        }


def load_record(stage_dir: Path) -> StageRecord | None:
    path = stage_dir / RECORD
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StageRecord(
            stage=data["stage"],
            config_hash=data["config_hash"],
            input_hash=data["input_hash"],
            outputs=dict(data.get("outputs", {})),
            counts=dict(data.get("counts", {})),
            seconds=float(data.get("seconds", 0.0)),
            finished_at=str(data.get("finished_at", "")),
        )
    except (ValueError, KeyError):
        return None  # an unreadable record means the stage is redone


def reusable(stage_dir: Path, config_hash: str, input_hash: str) -> StageRecord | None:
    """The stage's record when its work can be reused as is, else None."""
    rec = load_record(stage_dir)
    if rec is None or rec.config_hash != config_hash or rec.input_hash != input_hash:
        return None
    for rel, digest in rec.outputs.items():
        path = stage_dir / rel
        if not path.exists() or fingerprint(path) != digest:
            return None
    rec.reused = True
    return rec


def finish(
    stage_dir: Path,
    stage: str,
    *,
    config_hash: str,
    input_hash: str,
    outputs: Sequence[str],
    counts: dict[str, Any],
    started: float,
) -> StageRecord:
    """Fingerprint the stage's outputs and write its record (the stage's commit point)."""
    rec = StageRecord(
        stage=stage,
        config_hash=config_hash,
        input_hash=input_hash,
        outputs={rel: fingerprint(stage_dir / rel) for rel in outputs},
        counts=counts,
        seconds=time.perf_counter() - started,
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    atomic_write_json(stage_dir / RECORD, rec.to_json())
    return rec


def fingerprint(path: Path) -> str:
    """Content hash of a file, or of every file in a folder (names + contents)."""
    if path.is_dir():
        parts = {
            str(p.relative_to(path)): file_fingerprint(p) for p in sorted(path.rglob("*")) if p.is_file()
        }
        return stable_hash(parts, length=64)
    return file_fingerprint(path)
