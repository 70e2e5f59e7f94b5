"""On a terminal, a long run shows a progress bar with an ETA (tqdm's "elapsed<remaining")."""

import os
import pty
import re
import select
import subprocess
import sys
import time


import fcntl
import struct
import termios

import pytest


@pytest.mark.parametrize("columns", [120, 0])
def test_progress_bar_with_eta_on_a_terminal(tmp_path, columns):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "CODEROUGE_STORE": str(tmp_path / "s.db"), "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coderouge", "eval", "fake/p?latency=0.02", "--task", "business", "--concurrency", "2"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "fake/p?latency=0.02 business" in text
    assert re.search(r"\d+/50 \[\d\d:\d\d<\d\d:\d\d", text), text[-500:]


def test_progress_lines_when_standard_error_is_not_a_terminal(tmp_path):
    """A CI log gets a plain line every few seconds (done/total, rate, ETA) once a run lasts that long."""
    env = {**os.environ, "CODEROUGE_STORE": str(tmp_path / "s.db")}
    r = subprocess.run([sys.executable, "-m", "coderouge", "eval", "fake/p?latency=0.25", "--task", "business",
                        "--concurrency", "1", "--limit", "30"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if re.match(r".*: \d+/30 \(\d+%\), [\d.]+ req/s, ETA ", x)]
    assert len(lines) >= 2 and lines[-1].endswith("done") and "\r" not in r.stderr
    quick = subprocess.run([sys.executable, "-m", "coderouge", "eval", "fake/p", "--task", "business", "--limit", "5"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert quick.stderr == ""  # a short run prints nothing
