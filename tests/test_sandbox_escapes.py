"""Deliberate escapes from the code sandbox: each one must fail, and each test checks the real
effect on the host (a file that must not appear, a listener that must see no connection, a
process that must not survive, a secret that must not come out).

Every escape program first switches off the sandbox's audit hook from inside (the closure found
with gc.get_objects(), its sets emptied and its checks replaced) and proves it is off by forking,
which the hook refuses: what stops the escape is the operating system (bubblewrap's namespaces,
read-only mounts, the tmpfs, the limits), not a Python hook. No test here skips: where bwrap is
missing or cannot build a sandbox, they fail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from coderouge.evals import sandbox
from coderouge.evals.sandbox import PROCESS_LIMIT, SANDBOX_UID, TMPFS_MB, run_python

HOOK_OFF = '''
import gc as _gc, os, os as _os
def _hook_off():
    hooks = [o for o in _gc.get_objects()
             if type(o).__name__ == "function" and o.__name__ == "hook" and o.__closure__]
    for h in hooks:
        for c in h.__closure__:
            v = c.cell_contents
            if isinstance(v, frozenset):
                c.cell_contents = frozenset()
            elif isinstance(v, bool):
                c.cell_contents = False
            elif callable(v) and getattr(v, "__name__", "") == "inside":
                c.cell_contents = lambda p: True
            elif callable(v) and getattr(v, "__name__", "") == "other_proc":
                c.cell_contents = lambda p: False
    pid = _os.fork()  # refused while the hook is on
    if pid == 0:
        _os._exit(0)
    _os.waitpid(pid, 0)
    print("HOOK-OFF", len(hooks), flush=True)
_hook_off()
'''


def escape(program: str, timeout_s: float = 5.0, **kw):
    """Run `program` with the audit hook switched off first, in the real (not unsafe) sandbox."""
    r = run_python(HOOK_OFF + program, timeout_s=timeout_s, unsafe=False, **kw)
    assert r.isolation.startswith("bwrap "), r.isolation
    assert "HOOK-OFF 1" in r.stdout, (r.status, r.detail, r.stdout, r.stderr)
    return r


def _lines(r, prefix: str) -> list[str]:
    return [ln[len(prefix):].strip() for ln in r.stdout.splitlines() if ln.startswith(prefix)]


def test_the_hook_is_really_on_until_switched_off():
    # the control for HOOK_OFF: without it the same fork is refused
    r = run_python("import os\nos.fork()\n", timeout_s=5)
    assert r.status == "failed" and "os.fork is not allowed" in r.detail
    r = escape("print('after')\n")
    assert r.passed and "after" in r.stdout


def test_relative_writes_after_chdir_stay_in_the_sandbox(tmp_path):
    name = f"escape-{uuid.uuid4().hex}.txt"
    host_dirs = ["/tmp", "/var/tmp", "/root", str(Path.home()), str(tmp_path), os.getcwd(), "/"]
    r = escape(
        f"name = {name!r}\n"
        f"for d in {host_dirs!r}:\n"
        "    try:\n"
        "        os.chdir(d)\n"
        "        with open(name, 'w') as f:\n"
        "            f.write('owned')\n"
        "        print('WROTE', d, flush=True)\n"
        "    except OSError as e:\n"
        "        print('DENIED', d, type(e).__name__, flush=True)\n")
    assert r.passed, r.detail
    # /tmp inside is the sandbox's own tmpfs (the write worked there); everything else is absent or read-only
    assert _lines(r, "WROTE") == ["/tmp"]
    assert len(_lines(r, "DENIED")) == len(host_dirs) - 1
    for d in host_dirs:
        assert not (Path(d) / name).exists(), d


def _in_child_with_key(program: str, secret: str) -> dict:
    """Run `program` in the sandbox from a separate Python process started with FAKE_API_KEY in
    its environment (so its /proc/<pid>/environ really holds the key)."""
    driver = (
        "import json, os, sys\n"
        "from coderouge.evals.sandbox import run_python\n"
        "secret = os.environ['FAKE_API_KEY']\n"
        "own = open(f'/proc/{os.getpid()}/environ', 'rb').read().decode()\n"
        "echo = run_python(f'print({secret!r})', timeout_s=5)\n"
        "r = run_python(sys.stdin.read().replace('PARENT_PID', str(os.getpid())), timeout_s=5, unsafe=False)\n"
        "print(json.dumps({'own': secret in own, 'echo': echo.stdout, 'status': r.status, 'detail': r.detail,\n"
        "                  'stdout': r.stdout, 'stderr': r.stderr}))\n")
    env = {**os.environ, "FAKE_API_KEY": secret}
    p = subprocess.run([sys.executable, "-c", driver], input=program, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_no_api_key_from_the_environment_or_proc():
    secret = f"fake-{uuid.uuid4().hex}"  # not shaped like a vendor key: redaction would not hide it
    out = _in_child_with_key(HOOK_OFF + (
        "import glob\n"
        "print('ENV', dict(os.environ))\n"
        "print('KEYS', [k for k in os.environ if k.endswith('_API_KEY')])\n"
        "for path in ['/proc/PARENT_PID/environ', '/proc/1/environ', '/proc/self/environ']\\\n"
        "        + glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n"
        "        print('READ', path, open(path, 'rb').read())\n"
        "    except OSError as e:\n"
        "        print('DENIED', path, type(e).__name__)\n"), secret)
    assert out["own"], "the control: the driver's own /proc environ holds the key"
    assert secret in out["echo"], "the control: printed output is not hiding the key"
    assert out["status"] == "passed", out
    assert "HOOK-OFF 1" in out["stdout"]
    assert secret not in out["stdout"] + out["stderr"] + out["detail"]
    assert "KEYS []" in out["stdout"]
    assert "READ /proc/1/environ" in out["stdout"]  # readable, and holds no key (bwrap got a minimal environment)


def test_guards_cannot_be_lifted_from_inside():
    r = escape(
        "import ctypes, resource\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def attempt(name, fn):\n"
        "    try:\n"
        "        ok = fn()\n"
        "    except (OSError, ValueError) as e:\n"
        "        print('DENIED', name, type(e).__name__, flush=True)\n"
        "        return\n"
        "    print(('ALLOWED ' if ok else 'DENIED ') + name, flush=True)\n"
        "for lim in ('AS', 'NPROC', 'FSIZE', 'CPU', 'NOFILE'):\n"
        "    r = getattr(resource, 'RLIMIT_' + lim)\n"
        "    attempt('raise ' + lim, lambda r=r: resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)) or True)\n"
        "attempt('setuid 0', lambda: os.setuid(0) or True)\n"
        "attempt('setgid 0', lambda: os.setgid(0) or True)\n"
        "attempt('chroot', lambda: os.chroot('/') or True)\n"
        "attempt('remount / rw', lambda: libc.mount(b'none', b'/', None, 0x20 | 0x1000, None) == 0)\n"  # MS_REMOUNT|MS_BIND
        "attempt('remount /usr rw', lambda: libc.mount(b'none', b'/usr', None, 0x20 | 0x1000, None) == 0)\n"
        "attempt('mount tmpfs', lambda: libc.mount(b'tmpfs', b'/sandbox', b'tmpfs', 0, None) == 0)\n"
        "attempt('write /usr', lambda: open('/usr/owned', 'w').write('x') > 0)\n"
        "attempt('write /proc/sys', lambda: open('/proc/sys/kernel/hostname', 'w').write('x') > 0)\n"
        "attempt('write /sandbox/main.py', lambda: open('/sandbox/main.py', 'a').write('x') > 0)\n"
        # no process to take over that runs without the limits (bwrap's own init would be one: ptrace-able)
        "import glob\n"
        "for p in glob.glob('/proc/[0-9]*/limits'):\n"
        "    line = next(ln for ln in open(p) if ln.startswith('Max address space'))\n"
        "    print('LIMITS', p, line.split()[3], flush=True)\n")
    assert r.passed, r.detail
    assert _lines(r, "ALLOWED") == []
    assert len(_lines(r, "DENIED")) == 5 + 9
    limits = _lines(r, "LIMITS")
    assert limits and all(ln.split()[1] == str(512 << 20) for ln in limits), limits


@pytest.fixture()
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


def _accepted(srv) -> int:
    n = 0
    while True:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


def _host_addresses() -> list[str]:
    addrs = {"127.0.0.1"}
    try:
        addrs.update(a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    except OSError:
        pass
    return sorted(addrs)


def _connect_all(port: int, addrs: list[str]) -> str:
    return (
        "import socket\n"
        f"for a in {addrs!r}:\n"
        "    try:\n"
        f"        socket.create_connection((a, {port}), timeout=1).sendall(b'x')\n"
        "        print('CONNECTED', a, flush=True)\n"
        "    except OSError as e:\n"
        "        print('REFUSED', a, e, flush=True)\n")


def test_no_connection_to_a_local_listener(listener):
    port = listener.getsockname()[1]
    addrs = _host_addresses()
    for a in addrs:  # the control: the listener does accept from this host
        socket.create_connection((a, port), timeout=2).close()
    time.sleep(0.05)
    assert _accepted(listener) == len(addrs)
    r = escape(_connect_all(port, addrs))
    assert r.passed, r.detail
    assert _lines(r, "CONNECTED") == [] and len(_lines(r, "REFUSED")) == len(addrs)
    time.sleep(0.05)
    assert _accepted(listener) == 0


def test_setns_and_unshare_fail(listener):
    port = listener.getsockname()[1]
    r = escape(
        "import ctypes, glob\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "NS = {'user': 0x10000000, 'net': 0x40000000, 'mnt': 0x00020000, 'pid': 0x20000000, 'uts': 0x04000000, 'ipc': 0x08000000}\n"
        "for name, flag in NS.items():\n"
        "    rc = libc.unshare(flag)\n"
        "    print(('ALLOWED' if rc == 0 else 'DENIED'), 'unshare', name, ctypes.get_errno(), flush=True)\n"
        "rc = libc.unshare(NS['user'] | NS['net'])\n"
        "print(('ALLOWED' if rc == 0 else 'DENIED'), 'unshare user+net', ctypes.get_errno(), flush=True)\n"
        "for path in sorted(glob.glob('/proc/*/ns/*')):\n"
        "    try:\n"
        "        fd = os.open(path, os.O_RDONLY)\n"
        "    except OSError as e:\n"
        "        print('DENIED open', path, e.errno, flush=True)\n"
        "        continue\n"
        "    rc = libc.setns(fd, 0)\n"
        "    print(('ALLOWED' if rc == 0 else 'DENIED'), 'setns', path, ctypes.get_errno(), flush=True)\n"
        "    os.close(fd)\n"
        + _connect_all(port, ["127.0.0.1"]))
    assert r.passed, r.detail
    assert _lines(r, "ALLOWED") == []
    assert len([x for x in _lines(r, "DENIED") if x.startswith("setns")]) >= 4  # it did try the namespaces it sees
    assert len([x for x in _lines(r, "DENIED") if x.startswith("unshare")]) == 7
    assert _lines(r, "CONNECTED") == []
    time.sleep(0.05)
    assert _accepted(listener) == 0


def _sandbox_pids(needle: bytes) -> dict[int, str]:
    """Host processes whose command line holds `needle`, with their /proc status Uid line."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "cmdline").read_bytes():
                status = (d / "status").read_text()
                if "\nState:\tZ" in status:
                    continue
                out[int(d.name)] = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
        except (OSError, StopIteration):
            pass
    return out


class _Watch(threading.Thread):
    """Samples the host's processes matching `needle` while a sandbox runs."""

    def __init__(self, needle: bytes):
        super().__init__(daemon=True)
        self.needle, self.peak, self.uids, self.stop = needle, 0, set(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            seen = _sandbox_pids(self.needle)
            self.peak = max(self.peak, len(seen))
            self.uids.update(seen.values())
            time.sleep(0.05)


def _gone(needle: bytes, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while _sandbox_pids(needle):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_runs_unprivileged_on_the_host():
    marker = f"uid-{uuid.uuid4().hex}"
    watch = _Watch(marker.encode())
    watch.start()
    try:
        r = escape(
            "import sys, time\n"
            "print('UIDS', os.getuid(), os.geteuid(), os.getgid(), flush=True)\n"
            f"os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(1.5)', {marker!r}])\n")
    finally:
        watch.stop.set()
        watch.join()
    assert r.passed or "exited before its end" in r.detail, r.detail  # exec replaces the boot script
    assert _lines(r, "UIDS") == [f"{SANDBOX_UID} {SANDBOX_UID} {SANDBOX_UID}"]
    assert watch.peak == 1 and watch.uids, "the control: the sandboxed process was seen on the host"
    want = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    for line in watch.uids:
        assert line.split()[1:] == [str(want)] * 4, line
        assert line.split()[1] != "0"


def test_fork_bomb_is_contained():
    marker = f"bomb-{uuid.uuid4().hex}"
    watch = _Watch(marker.encode())
    watch.start()
    t0 = time.monotonic()
    try:
        r = escape(
            "import sys, time\n"
            f"os.execv(sys.executable, [sys.executable, '-c', '''\n"
            "import os, time\n"
            "while True:\n"
            "    try:\n"
            "        os.fork()\n"
            "    except OSError:\n"
            "        time.sleep(0.05)\n"
            f"''', {marker!r}])\n", timeout_s=3)
    finally:
        watch.stop.set()
        watch.join()
    elapsed = time.monotonic() - t0
    assert r.status == "timeout" and elapsed < 6, (r.status, r.detail, elapsed)
    assert 16 <= watch.peak <= PROCESS_LIMIT, watch.peak  # it did multiply, up to the limit and no further
    assert _gone(marker.encode()), "processes of the bomb outlived the sandbox"


def test_setsid_child_does_not_survive():
    marker = f"survivor-{uuid.uuid4().hex}"
    watch = _Watch(marker.encode())
    watch.start()
    try:
        r = escape(
            "import sys, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(8)', {marker!r}])\n"
            "    os._exit(0)\n"
            "time.sleep(1)\n"
            "print('parent done', flush=True)\n")
    finally:
        watch.stop.set()
        watch.join()
    assert r.passed and "parent done" in r.stdout, r.detail
    assert watch.peak == 1, "the control: the setsid child was running during the run"
    assert _gone(marker.encode(), within_s=1.0), "the setsid child survived the sandbox"


def test_disk_cannot_be_filled(tmp_path):
    name = f"fill-{uuid.uuid4().hex}"
    r = escape(
        "import errno\n"
        f"name = {name!r}\n"
        "chunk = b'x' * (1 << 20)\n"
        "total = 0\n"
        "for i in range(8):\n"
        "    try:\n"
        "        with open(f'{name}-{i}', 'wb') as f:\n"
        "            for _ in range(48):\n"
        "                f.write(chunk)\n"
        "                f.flush()\n"
        "                total += len(chunk)\n"
        "    except OSError as e:\n"
        "        print('STOPPED', i, errno.errorcode[e.errno], flush=True)\n"
        "    if total > (256 << 20):\n"
        "        break\n"
        "n = 0\n"
        "try:\n"
        "    for n in range(1000):\n"
        "        open(f'{name}-small-{n}', 'wb').write(b'y' * 65536)\n"
        "except OSError as e:\n"
        "    print('SMALL', n, errno.errorcode[e.errno], flush=True)\n"
        "st = os.statvfs('/tmp')\n"
        "print('TOTAL', total, st.f_blocks * st.f_frsize, flush=True)\n"
        "for d in ('/', '/sandbox', '/dev', '/dev/shm', '/usr', '/proc'):\n"
        "    try:\n"
        "        open(os.path.join(d, name), 'wb').write(b'z')\n"
        "        print('WROTE', d, flush=True)\n"
        "    except OSError as e:\n"
        "        print('DENIED', d, errno.errorcode[e.errno], flush=True)\n",
        timeout_s=10)
    assert r.passed, (r.detail, r.stdout)
    total, size = map(int, _lines(r, "TOTAL")[0].split())
    assert size == TMPFS_MB << 20 and total <= size
    stops = _lines(r, "STOPPED")
    assert any(s.endswith("EFBIG") for s in stops)  # one file: 32 MB at most
    assert any(s.endswith("ENOSPC") for s in stops)  # all files: the tmpfs is full
    assert _lines(r, "SMALL")[0].endswith("ENOSPC")
    assert _lines(r, "WROTE") == [] and len(_lines(r, "DENIED")) == 6
    for d in ("/tmp", "/var/tmp", str(tmp_path), os.getcwd(), "/"):
        assert not list(Path(d).glob(f"{name}*")), d


def test_files_outside_are_unreadable(tmp_path, monkeypatch):
    secret = f"host-secret-{uuid.uuid4().hex}"
    mine = tmp_path / "secret.txt"
    mine.write_text(secret)
    store = tmp_path / "store.db"
    store.write_text(secret)
    monkeypatch.setenv("CODEROUGE_STORE", str(store))
    home = Path.home()
    files = ["/etc/shadow", "/etc/passwd", str(mine), str(store), str(Path(sandbox.__file__).resolve()),
             str(Path(sys.prefix) / "pyvenv.cfg")]
    files += [str(p) for p in sorted(home.glob(".*"))[:5] if p.is_file()]
    dirs = [str(home), str(tmp_path), "/etc", "/var", "/work", "/run"]
    for f in files:  # the control: each is there to read on the host
        assert Path(f).is_file(), f
    r = escape(
        "import json\n"
        f"for path in {files!r}:\n"
        "    try:\n"
        "        print('READ', path, open(path, 'rb').read()[:40], flush=True)\n"
        "    except OSError as e:\n"
        "        print('DENIED', path, type(e).__name__, flush=True)\n"
        f"for path in {dirs!r}:\n"
        "    try:\n"
        "        print('LISTED', json.dumps([path, os.listdir(path)]), flush=True)\n"
        "    except OSError as e:\n"
        "        print('DENIED', path, type(e).__name__, flush=True)\n")
    assert r.passed, r.detail
    assert _lines(r, "READ") == [] and secret not in r.stdout
    # a directory may exist inside only as a mount point on the way to the Python installation
    # (pyenv's under /root: the sandbox's /root holds .pyenv and nothing else of the host's)
    ro = sandbox._ro_paths()
    for listed in _lines(r, "LISTED"):
        path, entries = json.loads(listed)
        for e in entries:
            full = os.path.join(path, e)
            assert any(q == full or q.startswith(full + "/") for q in ro), f"{full} is visible in the sandbox"
    assert len(_lines(r, "DENIED")) + len(_lines(r, "LISTED")) == len(files) + len(dirs)
    assert len(_lines(r, "DENIED")) >= len(files) + len(dirs) - 1
