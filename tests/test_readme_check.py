"""The README's doc test itself (scripts/check_readme.py, run in full by .ci/run): it must find every
command, know every placeholder and mode, and run a block as a reader's shell would."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_readme", REPO / "scripts" / "check_readme.py")
check = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["check_readme"] = check
_spec.loader.exec_module(check)  # type: ignore[union-attr]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_block_has_a_known_mode_and_every_skip_a_reason() -> None:
    blocks = check.parse_blocks(README)
    assert blocks, "no command found in the README"
    for c in blocks:
        assert c.mode in ("run", "fake-llm", "fake-hub", "skip"), c.where
        assert c.mode != "skip" or len(c.why) > 20, f"{c.where}: a skipped block must say why"
    texts = [c.text for c in blocks]
    assert any(t.startswith("taskforge datastore build demo/sources/*") for t in texts)
    assert "python -m pytest -q" in texts
    assert not any(t.startswith("#") for t in texts)  # comments are not commands


def test_table_templates_fill_into_runnable_commands() -> None:
    rows = check.parse_table(README)
    assert len(rows) >= 10
    for c in rows:
        leftover = [w for w in re.findall(r"\b[A-Z][A-Z_.]{2,}\b", c.text) if w not in ("TASK",)]
        assert not leftover, f"{c.where}: placeholder(s) {leftover} not in PLACEHOLDERS: {c.text}"
        assert "[" not in c.text and "|" not in c.text and "..." not in c.text, c.text
    train = next(c.text for c in rows if c.text.startswith("taskforge train"))
    assert "--out check/expert" in train  # the row that once lacked --out
    assert any("--mapper" in c.text and c.text.startswith("taskforge transform") for c in rows)


def test_fill_takes_the_last_choice_and_drops_optional_parts() -> None:
    got = check.fill(
        "taskforge transform TASK.yaml ITEMS (--llm openai:MODEL \\| --mapper) [--judge x] --out SAMPLES"
    )
    assert got == "taskforge transform examples/nli.yaml check/items.jsonl --mapper --out check/samples.jsonl"
    assert check.fill('taskforge datastore search STORE "two words" -k 10') == (
        "taskforge datastore search check/ds 'two words' -k 10"
    )


def test_a_block_runs_like_a_shell_session(tmp_path: Path) -> None:
    """A later command sees the .venv an earlier one made; a failing command fails the check."""
    root = tmp_path / "clone"
    (root / ".venv" / "bin").mkdir(parents=True)
    session = check.Session(root=root, logs=tmp_path / "logs")
    session.logs.mkdir()
    commands = [
        check.Command("block 1", 'ln -s "$(command -v python3)" .venv/bin/python && echo made'),
        check.Command("block 1", 'test "$VIRTUAL_ENV" = "$PWD/.venv" && echo active'),
        check.Command("block 2", "exit 3"),
        check.Command("block 3", "echo never", mode="skip", why="a reason long enough to say why"),
    ]
    check.run_all(session, commands, timeout=60)
    assert [c.status for c in commands] == ["ok", "ok", "FAILED (exit 3)", "skipped"]
    assert "active" in Path(commands[1].log).read_text()
    out = check.summary(commands, ["runs/x/report.html"])
    assert "1 failed, 1 skipped" in out and "MISSING documented file: runs/x/report.html" in out
