"""Start-up: the CLI imports no heavy library until a command needs it (issue 19, point 1).

Each check runs in a fresh interpreter, since this test process has long since imported
everything. No timing thresholds (the machines are shared): the imports are what make
``taskforge --help`` slow, so the imports are what is pinned.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["torch", "sentence_transformers", "faiss", "datasets", "transformers", "sklearn", "scipy", "pandas"]

_PROBE = """
import json, sys
from typer.testing import CliRunner
from taskforge._cli import app
outcome = {"imported": sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)}
for name, args in json.loads(sys.argv[2]).items():
    res = CliRunner().invoke(app, args)
    outcome[name] = {"exit": res.exit_code, "stdout": res.stdout,
                     "loaded": sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)}
print(json.dumps(outcome))
"""


def _probe(modules: list[str], commands: dict[str, list[str]]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules), json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_and_help_load_no_heavy_library() -> None:
    light_too = [*HEAVY, "numpy", "pyarrow", "jinja2", "aiohttp", "taskforge._pipeline"]
    out = _probe(light_too, {"help": ["--help"], "run_help": ["run", "--help"]})
    assert out["imported"] == []
    for name in ("help", "run_help"):
        assert out[name]["exit"] == 0 and "Usage" in out[name]["stdout"]
        assert out[name]["loaded"] == [], f"`taskforge {name}` imported {out[name]['loaded']}"


def test_datastore_info_loads_no_model_library(demo_datastore: Path) -> None:
    out = _probe(HEAVY, {"info": ["datastore", "info", str(demo_datastore)]})
    assert out["info"]["exit"] == 0 and "snli_dev" in out["info"]["stdout"]
    assert out["info"]["loaded"] == [], f"`datastore info` imported {out['info']['loaded']}"
