"""The sandbox that runs model-written code: limits, timeouts, no network, no secrets, cleanup."""

import os
import socket
import time

import pytest

from coderouge.evals.sandbox import network_isolation, run_python


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


def test_temp_dir_is_removed_afterwards():
    r = run_python("import os\nprint(os.getcwd())\nopen('leftover.txt', 'w').write('x')\n", timeout_s=5)
    assert r.passed, r.detail
    cwd = r.stdout.strip()
    assert cwd and "coderouge-sandbox-" in cwd
    assert not os.path.exists(cwd)
    assert not os.path.exists(os.path.dirname(cwd))


def test_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-value")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    r = run_python(
        "import os\n"
        "assert 'OPENAI_API_KEY' not in os.environ and 'ANTHROPIC_API_KEY' not in os.environ\n"
        "print(sorted(os.environ))\n"
        f"assert open('/proc/{os.getpid()}/environ', 'rb').read() == b''  # the parent's: refused\n",
        timeout_s=5)
    assert "sk-secret" not in r.stdout + r.stderr and "sk-ant" not in r.stdout + r.stderr
    assert r.status == "failed" and "PermissionError" in r.detail  # the /proc read, after the env asserts passed
    assert "PATH" in r.stdout


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
    assert r.isolation == network_isolation()
    if network_isolation().startswith("netns"):
        # a fresh network namespace has only a down loopback device: unreachable, not refused by a hook
        assert "unreachable" in r.detail.lower() or "Errno" in r.detail


def test_no_network_with_the_audit_hook_fallback(listener):
    port = listener.getsockname()[1]
    r = run_python(_connect_program(port), timeout_s=5, network="audit-hook")
    assert r.status == "failed" and r.isolation == "audit-hook"
    assert "no network" in r.detail
    assert not _saw_connection(listener)


def test_isolation_is_reported():
    # "netns" where the kernel lets us make a network namespace (root with CAP_SYS_ADMIN, as here),
    # "audit-hook" in a container that forbids it
    assert network_isolation() in ("netns", "netns+userns", "audit-hook")
    assert run_python("pass\n", timeout_s=5).isolation == network_isolation()


def test_output_is_truncated():
    r = run_python("print('x' * 200_000)\n", timeout_s=5)
    assert r.passed and len(r.stdout) <= 4001
