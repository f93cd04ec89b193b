"""The README's doc test: run every command it shows in a fresh clone, and check the files it promises.

    python scripts/check_readme.py [--repo .] [--work DIR] [--report FILE] [--timeout 3600]

What runs, in README order, in a fresh ``git clone`` of the repository (its committed HEAD):

* every command line of every ```bash block (continuation lines joined), each in its own
  ``bash -c`` with the clone as working directory. The shell a reader types into keeps its
  state, so once a command has made ``.venv``, the later ones run with it activated;
* every ``taskforge ...`` template in the "Commands" table, with its placeholders filled from
  :data:`PLACEHOLDERS` (an optional ``[...]`` part is left out; of ``(a | b)`` the last, no-LLM
  choice is taken), in table order, after the blocks.

An HTML comment on the line above a block says how to run it:

* ``<!-- readme-check: fake-llm -->``: an OpenAI-compatible fake server
  (``python -m taskforge.testing.fake_llm --task ...``, answering like a model for the tasks the
  block names) listens at each ``localhost`` URL in the block, and ``ANTHROPIC_BASE_URL`` points
  at one, so the commands run as written. A busy port is replaced by a free one (and said so).
* ``<!-- readme-check: fake-hub -->``: a fake Hugging Face Hub (``taskforge.testing.FakeHubServer``)
  at ``HF_ENDPOINT``, with ``HF_TOKEN`` set.
* ``<!-- readme-check: skip: REASON -->``: not run; the reason is printed in the summary.

Then every path the README names under ``runs/`` or ``demo-ds/`` (in backticks) must exist.
The summary gives each command's status and its wall and CPU seconds (children's user + system
time: on a shared machine the CPU time is the steadier figure). Exit code 0 when all passed.
Only the standard library is used: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MARK = re.compile(r"<!--\s*readme-check:\s*(?P<mode>[\w-]+)\s*(?::\s*(?P<why>.*?))?\s*-->")
BLOCK = re.compile(r"^```bash\n(?P<body>.*?)^```", re.S | re.M)
LOCAL_URL = re.compile(r"http://localhost:(\d+)")
DOCUMENTED = re.compile(r"`((?:runs|demo-ds)/[^`\s]*)`")

# the Commands table's placeholders, filled for the demo data (in table order each uses the one before)
PLACEHOLDERS = {
    "SOURCE...": "demo/sources/snli_dev demo/sources/scitail_test",
    "STORE": "check/ds",
    "TASK.yaml": "examples/nli.yaml",
    "N": "100",
    "ITEMS": "check/items.jsonl",
    "SAMPLES": "check/samples.jsonl",
    "FILTER_DIR": "check/filter",
    "KEPT": "check/filter/kept.jsonl",
    "EXPORT_DIR": "check/export",
    "RUN_DIR": "check/run",
    "DATASET": "check/export/data.jsonl",
    "MODEL_DIR": "check/expert",
    "EVAL_FILE": "demo/eval/scitail_eval.jsonl",
}


@dataclass
class Command:
    where: str  # "block 3 (line 40)" or "table row 2"
    text: str
    mode: str = "run"  # run | fake-llm | fake-hub | skip
    why: str = ""
    status: str = "not run"
    wall: float = 0.0
    cpu: float = 0.0
    note: str = ""
    log: str = ""


@dataclass
class Session:
    """The reader's shell: the clone, the environment, and whether ``.venv`` is active yet."""

    root: Path
    logs: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def activate_venv(self) -> None:
        venv = self.root / ".venv"
        if (venv / "bin" / "python").exists() and self.env.get("VIRTUAL_ENV") != str(venv):
            self.env["VIRTUAL_ENV"] = str(venv)
            self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"

    @property
    def python(self) -> str:
        venv_python = self.root / ".venv" / "bin" / "python"
        return str(venv_python) if venv_python.exists() else sys.executable


def parse_blocks(readme: str) -> list[Command]:
    """The command lines of every ```bash block, with the mode its marker comment gives."""
    out: list[Command] = []
    for i, m in enumerate(BLOCK.finditer(readme), 1):
        before = readme[: m.start()].rstrip().splitlines()[-1:] or [""]
        mark = MARK.search(before[0])
        mode, why = (mark.group("mode"), mark.group("why") or "") if mark else ("run", "")
        line_no = readme[: m.start()].count("\n") + 1
        for text in _lines(m.group("body")):
            out.append(Command(f"block {i} (README line {line_no})", text, mode, why))
    return out


def _lines(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def parse_table(readme: str) -> list[Command]:
    """The ``taskforge ...`` templates of the "## Commands" table, placeholders filled."""
    section = readme.split("\n## Commands", 1)[1].split("\n## ", 1)[0] if "\n## Commands" in readme else ""
    out = []
    for row_no, row in enumerate((r for r in section.splitlines() if r.startswith("| `")), 1):
        first_cell = re.split(r"(?<!\\)\|", row)[1]
        for template in re.findall(r"`(taskforge [^`]+)`", first_cell):
            out.append(Command(f"table row {row_no}", fill(template)))
    return out


def fill(template: str) -> str:
    """A runnable command from a template: optional parts out, the last alternative, placeholders filled."""
    text = template.replace("\\|", "|")
    text = re.sub(r"\s*\[[^\]]*\]", "", text)  # optional parts
    text = re.sub(r"\(([^()]*\|[^()]*)\)", lambda m: m.group(1).split("|")[-1].strip(), text)
    words = shlex.split(text)
    return " ".join(PLACEHOLDERS.get(w, shlex.quote(w)) for w in words)


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def start(session: Session, argv: list[str], name: str) -> tuple[subprocess.Popen[str], str]:
    """A helper server of the clone's venv; its URL is the first line it prints."""
    log = (session.logs / f"{name}.log").open("w")
    proc = subprocess.Popen(
        argv, cwd=session.root, env=session.env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"{name} did not start (see {log.name})")
    return proc, url


def fake_llms(
    session: Session, commands: list[Command]
) -> tuple[list[subprocess.Popen[str]], dict[str, str]]:
    """Fake LLM servers at the block's localhost ports; the env vars and URL rewrites that point at them."""
    text = " ".join(c.text for c in commands)
    tasks = sorted(set(re.findall(r"examples/[\w/-]+\.yaml", text)))
    procs, rewrites = [], {}
    ports = sorted({int(p) for p in LOCAL_URL.findall(text)}) or [0]
    for wanted in ports:
        port = free_port(wanted)
        argv = [session.python, "-m", "taskforge.testing.fake_llm", "--port", str(port)]
        proc, url = start(session, [*argv, *[a for t in tasks for a in ("--task", t)]], f"fake-llm-{wanted}")
        procs.append(proc)
        if wanted and port != wanted:
            rewrites[f"localhost:{wanted}"] = f"localhost:{port}"
        session.env.setdefault("ANTHROPIC_BASE_URL", url)
    session.env.setdefault("ANTHROPIC_API_KEY", "fake-key-for-the-readme-check")
    return procs, rewrites


def run_one(session: Session, cmd: Command, timeout: float, rewrites: dict[str, str]) -> None:
    text = cmd.text
    for old, new in rewrites.items():
        if old in text:
            text = text.replace(old, new)
            cmd.note = f"{old} was busy: ran on {new}"
    log_path = session.logs / f"cmd-{len(list(session.logs.glob('cmd-*.log'))) + 1:03d}.log"
    cmd.log = str(log_path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with log_path.open("w") as log:
        log.write(f"$ {text}\n")
        log.flush()
        proc = subprocess.Popen(
            ["bash", "-c", text],
            cwd=session.root,
            env=session.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = -1
            cmd.note = f"timed out after {timeout:.0f} s"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd.wall = time.perf_counter() - t0
    cmd.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cmd.status = "ok" if rc == 0 else f"FAILED (exit {rc})"
    session.activate_venv()


def run_all(session: Session, commands: list[Command], timeout: float) -> None:
    """Each group of commands with the same block and mode, in order, helpers up around it."""
    i = 0
    while i < len(commands):
        group = [c for c in commands[i:] if c.where == commands[i].where]
        i += len(group)
        mode = group[0].mode
        if mode == "skip":
            for c in group:
                c.status = "skipped"
            continue
        procs: list[subprocess.Popen[str]] = []
        rewrites: dict[str, str] = {}
        saved = dict(session.env)
        try:
            if mode == "fake-llm":
                procs, rewrites = fake_llms(session, group)
            elif mode == "fake-hub":
                proc, url = start(session, [session.python, "-m", "taskforge.testing.fake_hub"], "fake-hub")
                procs.append(proc)
                session.env.update({"HF_ENDPOINT": url, "HF_TOKEN": "hf_test_token", "HF_HUB_OFFLINE": "0"})
            elif mode != "run":
                raise ValueError(f"{group[0].where}: unknown readme-check mode {mode!r}")
            for c in group:
                run_one(session, c, timeout, rewrites)
        finally:
            for p in procs:
                p.kill()
                p.wait()
            venv = {k: session.env[k] for k in ("VIRTUAL_ENV", "PATH") if k in session.env}
            session.env = {**saved, **venv}


def summary(commands: list[Command], missing: list[str]) -> str:
    rows = ["| where | command | status | wall s | cpu s |", "|---|---|---|---|---|"]
    for c in commands:
        status = c.status + (f" ({c.why})" if c.why and c.status == "skipped" else "")
        status += f"; {c.note}" if c.note else ""
        short = c.text if len(c.text) <= 90 else c.text[:87] + "..."
        rows.append(f"| {c.where} | `{short}` | {status} | {c.wall:.1f} | {c.cpu:.1f} |")
    ran = [c for c in commands if c.status not in ("skipped", "not run")]
    rows.append(
        f"\n{len(ran)} commands run, {sum(c.status != 'ok' for c in ran)} failed, "
        f"{sum(c.status == 'skipped' for c in commands)} skipped; "
        f"{sum(c.wall for c in ran):.0f} s wall, {sum(c.cpu for c in ran):.0f} s CPU"
    )
    rows += [f"MISSING documented file: {m}" for m in missing]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument(
        "--work", type=Path, help="where to clone (default: a temporary folder, removed when all passed)"
    )
    ap.add_argument("--report", type=Path, help="also write the results as JSON here")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="readme-check-"))
    root = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(args.repo), str(root)], check=True)
    session = Session(root=root, logs=work / "logs")
    session.logs.mkdir(parents=True, exist_ok=True)
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "HF_ENDPOINT"):
        session.env.pop(var, None)
    session.env["PATH"] = os.pathsep.join(
        p
        for p in session.env.get("PATH", "").split(os.pathsep)
        if not p.endswith((".venv/bin", ".ci-venv/bin"))
    )
    readme = (root / "README.md").read_text(encoding="utf-8")
    commands = parse_blocks(readme) + parse_table(readme)
    print(
        f"readme-check: {len(commands)} commands from {root / 'README.md'}; logs in {session.logs}",
        flush=True,
    )
    run_all(session, commands, args.timeout)
    missing = sorted({p for p in DOCUMENTED.findall(readme) if not (root / p).exists()})
    print(summary(commands, missing), flush=True)
    for c in commands:
        if c.status.startswith("FAILED"):
            print(
                f"\n--- {c.where}: {c.text}\n" + Path(c.log).read_text(errors="replace")[-3000:], flush=True
            )
    if args.report:
        args.report.write_text(json.dumps([c.__dict__ for c in commands] + [{"missing": missing}], indent=1))
    failed = any(c.status.startswith("FAILED") for c in commands) or missing
    if not failed and args.work is None:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
