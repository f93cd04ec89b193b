"""Run the fake Hugging Face Hub as a process: ``python -m taskforge.testing.fake_hub [--token T]``.

Prints its URL on stdout once listening (one line, flushed), then serves until killed; point
``HF_ENDPOINT`` at it (and ``HF_TOKEN`` at the token) to push without the real Hub.
"""

from __future__ import annotations

import argparse
import threading

from taskforge.testing._fake_hub import FakeHubServer


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m taskforge.testing.fake_hub", description=__doc__)
    p.add_argument("--token", default="hf_test_token", help="the token it accepts ('' for any)")
    args = p.parse_args(argv)
    with FakeHubServer(token=args.token or None) as hub:
        print(hub.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
