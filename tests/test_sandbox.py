"""The sandbox that runs model-written code: limits, timeouts, no network, no secrets, cleanup,
redacted output, the isolation it reports, and its refusal where there is no OS sandbox.
(Deliberate escape attempts: tests/test_sandbox_escapes.py.)"""

import os
import socket
import tempfile
import time

import pytest

from coderouge.errors import UsageError
from coderouge.evals import sandbox
from coderouge.evals.sandbox import SandboxUnavailableError, isolation, run_python
from coderouge.secrets import register_secret


def test_correct_program_passes():
    r = run_python("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')\n", timeout_s=5)
    assert r.passed and r.status == "passed" and r.returncode == 0
    assert r.stdout.strip() == "ok"


def test_assertion_failure_fails_with_traceback_in_detail():
    r = run_python("assert 1 + 1 == 3, 'bad sum'\n", timeout_s=5)
    assert not r.passed and r.status == "failed"
    assert "AssertionError" in r.detail and "bad sum" in r.stderr


def test_syntax_error_fails():
    r = run_python("def f(:\n", timeout_s=5)
    assert r.status == "failed" and "SyntaxError" in r.detail


def test_infinite_loop_times_out():
    r = run_python("while True:\n    pass\n", timeout_s=1.0)
    assert r.status == "timeout" and not r.passed
    assert r.duration_s < 5


def test_memory_bomb_is_contained():
    r = run_python("x = bytearray(4 * 1024 ** 3)\nprint(len(x))\n", timeout_s=5, memory_mb=256)
    assert r.status in ("failed", "error") and not r.passed
    assert "Memory" in r.detail or "memory" in r.detail


def test_early_exit_is_not_a_pass():
    # sys.exit(0) or os._exit(0) before the tests ran: exit status 0, but the program did not finish
    for prog in ("import sys\nsys.exit(0)\nassert False\n", "import os\nos._exit(0)\nassert False\n"):
        r = run_python(prog, timeout_s=5)
        assert r.status == "failed" and not r.passed, prog


def test_cannot_start_processes():
    # the audit hook (defence in depth; the escape tests switch it off and the OS layer still holds)
    r = run_python("import os\nos.fork()\n", timeout_s=5)
    assert r.status == "failed" and "os.fork" in r.detail
    r = run_python("import os\nos.system('echo hi')\n", timeout_s=5)
    assert r.status == "failed" and "hi" not in r.stdout


def test_cannot_write_outside_its_directory(tmp_path):
    target = tmp_path / "owned.txt"
    r = run_python(f"open({str(target)!r}, 'w').write('x')\n", timeout_s=5)
    assert r.status == "failed" and not target.exists()
    r = run_python("open('here.txt', 'w').write('x')\nassert open('here.txt').read() == 'x'\n", timeout_s=5)
    assert r.passed, r.detail


def test_working_dir_is_a_fresh_private_tmpfs():
    before = set(os.listdir(tempfile.gettempdir()))
    r = run_python("import os\nprint(os.getcwd(), os.environ['HOME'], os.environ['TMPDIR'])\n"
                   "assert os.listdir('.') == []\nopen('leftover.txt', 'w').write('x')\n", timeout_s=5)
    assert r.passed, r.detail
    assert r.stdout.split() == ["/tmp", "/tmp", "/tmp"]
    # the next run starts from an empty directory again, and nothing was left on the host
    r = run_python("import os\nassert not os.path.exists('leftover.txt'), os.listdir('.')\n", timeout_s=5)
    assert r.passed, r.detail
    assert not any(n.startswith("coderouge-sandbox-") for n in set(os.listdir(tempfile.gettempdir())) - before)


def test_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-value")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    r = run_python(
        "import os\n"
        "assert 'OPENAI_API_KEY' not in os.environ and 'ANTHROPIC_API_KEY' not in os.environ\n"
        "print(sorted(os.environ))\n"
        f"open('/proc/{os.getpid()}/environ', 'rb').read()  # the parent's: not in this PID namespace\n",
        timeout_s=5)
    assert "sk-secret" not in r.stdout + r.stderr and "sk-ant" not in r.stdout + r.stderr
    assert r.status == "failed" and ("FileNotFoundError" in r.detail or "PermissionError" in r.detail)
    assert "PATH" in r.stdout


def test_output_is_redacted():
    register_secret("zq-registered-secret-4711")
    r = run_python("print('key sk-proj-abcdefghijklmnop0123')\nprint('zq-registered-secret-4711')\n"
                   "import sys\nsys.stderr.write('AIzaSyA-abcdefghijkl0123456789\\n')\nassert False\n", timeout_s=5)
    assert r.status == "failed"
    assert "sk-proj-abc" not in r.stdout and "zq-registered" not in r.stdout and "AIzaSyA" not in r.stderr
    assert r.stdout.count("[REDACTED]") == 2 and "[REDACTED]" in r.stderr


@pytest.fixture()
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


def _connect_program(port):
    return (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "s.sendall(b'hello')\n"
        "print('connected')\n"
    )


def _saw_connection(srv):
    try:
        conn, _ = srv.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_listener_sees_a_normal_connection(listener):
    # the control: the loopback listener does accept connections from this process
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    time.sleep(0.05)
    assert _saw_connection(listener)


def test_no_network_by_default(listener):
    port = listener.getsockname()[1]
    r = run_python(_connect_program(port), timeout_s=5)
    assert r.status in ("failed", "error") and not r.passed
    assert "connected" not in r.stdout
    assert not _saw_connection(listener)
    # a fresh network namespace has only its own loopback (bwrap brings it up), where nothing
    # listens: the kernel refuses, not a hook
    assert "ConnectionRefusedError" in r.detail or "unreachable" in r.detail.lower(), r.detail


def test_isolation_is_reported():
    iso = isolation()
    assert iso.startswith("bwrap ") and "user+mount+pid+net" in iso and "uid 65534" in iso and "tmpfs /tmp 64M" in iso
    if os.geteuid() == 0:
        assert "on the host nobody (65534)" in iso or "on the host 65534 (65534)" in iso
    assert run_python("pass\n", timeout_s=5).isolation == iso


@pytest.fixture()
def no_bwrap(monkeypatch):
    """This machine as if bubblewrap were not installed."""
    monkeypatch.setattr(sandbox, "BWRAP", "coderouge-no-such-bwrap")
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    sandbox._reset()
    yield
    monkeypatch.undo()
    sandbox._reset()


def test_refuses_without_an_os_sandbox(no_bwrap):
    with pytest.raises(SandboxUnavailableError) as e:
        run_python("print('hi')\n", timeout_s=5)
    assert isinstance(e.value, UsageError)
    msg = str(e.value)
    assert "bubblewrap" in msg and "--unsafe-sandbox" in msg and sandbox.UNSAFE_ENV in msg
    with pytest.raises(SandboxUnavailableError):
        isolation()


def test_unsafe_fallback_only_when_asked(no_bwrap, monkeypatch, listener):
    r = run_python("print('hi')\n", timeout_s=5, unsafe=True)
    assert r.passed and r.stdout.strip() == "hi"
    assert r.isolation.startswith("unsafe: no OS sandbox (bubblewrap (bwrap) is not installed")
    monkeypatch.setenv(sandbox.UNSAFE_ENV, "1")
    assert isolation().startswith("unsafe:")
    port = listener.getsockname()[1]
    r = run_python(_connect_program(port), timeout_s=5)  # still no network: a namespace or the hook
    assert r.status == "failed" and "connected" not in r.stdout and not _saw_connection(listener)
    with pytest.raises(SandboxUnavailableError):
        run_python("pass\n", timeout_s=5, unsafe=False)  # an explicit False wins over the variable


def test_output_is_truncated():
    r = run_python("print('x' * 200_000)\n", timeout_s=5)
    assert r.passed and len(r.stdout) <= 4001
