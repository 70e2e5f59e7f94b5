"""Run untrusted Python (model-written code) in a limited subprocess.

`run_python(program)` writes the program into a fresh temporary directory (deleted afterwards)
and runs it with `sys.executable -I -B` in that directory, with:

* a minimal environment (nothing from `os.environ`: no API keys);
* resource limits set in the child before exec (`preexec_fn`): address space (RLIMIT_AS), CPU
  seconds, file size, open files, no core dumps, and RLIMIT_NPROC (the kernel ignores it for
  root, hence the process guard below);
* a wall-clock timeout that kills the child's whole process group;
* no network: the child gets a new, empty network namespace (`unshare(CLONE_NEWNET)`; as a
  non-root user together with a user namespace). Where the kernel refuses that, the guard
  below also refuses every `socket.*` audit event. `network_isolation()` says which is in use;
* a guard installed by a small boot script (an audit hook, `sys.addaudithook`): no new
  processes (fork, exec, spawn, subprocess, `ctypes`), no signals to other processes, no
  writes, deletes or renames outside the temporary directory, no reading other processes'
  `/proc/<pid>` files. An audit hook is a safety net against accidents, not a security
  boundary against code written to escape it; the namespace and the limits are the hard part.

The program passes only if it runs to its end: exit status 0 *and* the boot script's
completion token, so `sys.exit(0)` or `os._exit(0)` halfway through is a failure
(human-eval counts a `SystemExit` as a failure too).
"""

from __future__ import annotations

import ctypes
import functools
import os
import pwd
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["SandboxResult", "network_isolation", "run_python"]

Status = Literal["passed", "failed", "timeout", "error"]

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MAX_OUTPUT_CHARS = 4000  # kept of each of stdout and stderr
FILE_SIZE_LIMIT = 32 << 20  # bytes, for every file the child writes, its stdout/stderr included
OPEN_FILES_LIMIT = 64
PROCESS_LIMIT = 64


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: Status
    detail: str
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    duration_s: float = 0.0
    isolation: str = ""  # how the network was kept out: "netns", "netns+userns" or "audit-hook"


# The boot script: installs the guard, runs main.py, and writes the completion token to the fd
# it was given. It gets: argv = [boot, main.py, token fd, block_net (0/1)], the token on stdin.
_BOOT = r'''
import os, sys

def _install_guard(workdir, block_net):
    realpath, isabs, join, sep = os.path.realpath, os.path.isabs, os.path.join, os.sep
    W = realpath(workdir)
    me = str(os.getpid())
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    PROC = frozenset(("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                      "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "ctypes.dlopen",
                      "os.setuid", "os.setgid", "os.chroot"))
    PATHS = frozenset(("os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.chmod", "os.chown",
                       "os.link", "os.symlink", "os.truncate", "os.mkdir", "os.utime", "os.chflags"))
    NO_IMPORT = frozenset(("_posixsubprocess", "_ctypes"))

    def inside(p):
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        p = realpath(p if isabs(p) else join(W, p))
        return p == W or p.startswith(W + sep) or p == "/dev/null"

    def other_proc(p):
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        parts = realpath(p if isabs(p) else join(W, p)).split(sep)
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and parts[2] != me

    def hook(event, args):
        if event in PROC:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if block_net and event.startswith("socket."):
            raise PermissionError(f"sandbox: no network ({event})")
        if event == "import" and args and args[0] in NO_IMPORT:
            raise PermissionError(f"sandbox: import of {args[0]} is not allowed")
        if event == "open" and isinstance(args[0], (str, bytes)):
            path, mode, flags = args[0], args[1], args[2]
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & WRITE)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the sandbox directory: {path!r}")
            if other_proc(path):
                raise PermissionError(f"sandbox: no access to other processes: {path!r}")
        elif event in PATHS:
            for a in args:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(os.fspath(a)):
                    raise PermissionError(f"sandbox: {event} outside the sandbox directory: {a!r}")

    sys.addaudithook(hook)

def _main():
    main, token_fd, block_net = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    token = sys.stdin.readline().strip()
    del sys.argv[1:]
    with open(main, encoding="utf-8") as f:
        code = compile(f.read(), main, "exec")
    _install_guard(os.getcwd(), block_net)
    g = {"__name__": "__main__", "__file__": main, "__builtins__": __builtins__}
    try:
        exec(code, g)
    except SystemExit as e:
        sys.stderr.write(f"\nsandbox: the program called exit ({e.code!r}) before its end\n")
        sys.stderr.flush()
        os._exit(3)
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(token_fd, token.encode())
    os.close(token_fd)

_main()
'''


@functools.lru_cache(maxsize=1)
def _libc_unshare():
    try:
        fn = ctypes.CDLL(None, use_errno=True).unshare
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _drop_to() -> tuple[int, int] | None:
    """As root, the user to run as (RLIMIT_NPROC only binds a non-root user): 'nobody', where it
    can start this Python; None when not root or when it cannot (an interpreter under /root)."""
    return _probe()[1]


def _preexec(limits: list[tuple[int, int, int]], unshare_flags: int, drop: tuple[int, int] | None):
    unshare = _libc_unshare()
    get_errno = ctypes.get_errno
    setrlimit = resource.setrlimit

    def child() -> None:  # runs between fork and exec: no imports, nothing that takes a lock
        if unshare_flags and (unshare is None or unshare(unshare_flags) != 0):
            raise OSError(get_errno(), "unshare(CLONE_NEWNET) failed")
        for res, soft, hard in limits:
            setrlimit(res, (soft, hard))
        if drop is not None:
            os.setgroups([])
            os.setgid(drop[1])
            os.setuid(drop[0])

    return child


def _env(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": workdir, "TMPDIR": workdir, "PYTHONIOENCODING": "utf-8"}


def _try_start(unshare_flags: int, drop: tuple[int, int] | None) -> bool:
    """Can a child start with these namespace flags / as this user? (Runs `python -I -c pass`.)"""
    with tempfile.TemporaryDirectory(prefix="coderouge-probe-") as d:
        os.chmod(d, 0o755)
        try:
            r = subprocess.run([sys.executable, "-I", "-B", "-c", "pass"], check=False, cwd=d, env=_env(d),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_preexec([], unshare_flags, drop), timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return r.returncode == 0


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[tuple[str, int], tuple[int, int] | None]:
    """What this machine allows, found once per process: ((isolation name, unshare flags), drop-to user)."""
    net: tuple[str, int] = ("audit-hook", 0)
    if sys.platform.startswith("linux") and _libc_unshare() is not None:
        if _try_start(CLONE_NEWNET, None):
            net = ("netns", CLONE_NEWNET)
        elif os.geteuid() != 0 and _try_start(CLONE_NEWUSER | CLONE_NEWNET, None):
            net = ("netns+userns", CLONE_NEWUSER | CLONE_NEWNET)
    drop = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("nobody")
            if _try_start(net[1], (pw.pw_uid, pw.pw_gid)):
                drop = (pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass
    return net, drop


def network_isolation() -> str:
    """How sandboxed programs are kept off the network here: "netns" (a new, empty network
    namespace), "netns+userns" (the same, inside a user namespace, for a non-root user) or
    "audit-hook" (the fallback: socket creation refused by an audit hook)."""
    return _probe()[0][0]


def runs_as() -> str:
    """Which user sandboxed programs run as: "nobody" (root dropped its privileges) or "self"."""
    return "nobody" if _drop_to() is not None else "self"


def _read_capped(path: Path, keep: str) -> str:
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size > MAX_OUTPUT_CHARS * 4 and keep == "tail":
            f.seek(size - MAX_OUTPUT_CHARS * 4)
        data = f.read(MAX_OUTPUT_CHARS * 4)
    text = data.decode("utf-8", errors="replace")
    if len(text) <= MAX_OUTPUT_CHARS and size <= MAX_OUTPUT_CHARS * 4:
        return text
    return ("…" + text[-MAX_OUTPUT_CHARS:]) if keep == "tail" else (text[:MAX_OUTPUT_CHARS] + "…")


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait until the child exits or the deadline passes, without reaping it. True if it exited."""
    pause = 0.001
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.02)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_python(program: str, timeout_s: float = 10.0, memory_mb: int = 512, *,
               network: Literal["auto", "audit-hook"] = "auto") -> SandboxResult:
    """Run `program` in the sandbox. `network="audit-hook"` forces the fallback network guard
    (for tests); "auto" uses a network namespace where the kernel allows it."""
    (iso, flags), drop = _probe()
    if network == "audit-hook":
        iso, flags = "audit-hook", 0
    cpu_s = int(timeout_s) + 1  # SIGXCPU at the soft limit, SIGKILL a second later
    limits = [
        (resource.RLIMIT_AS, memory_mb << 20, memory_mb << 20),
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT, FILE_SIZE_LIMIT),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if hasattr(resource, "RLIMIT_NPROC"):
        limits.append((resource.RLIMIT_NPROC, PROCESS_LIMIT, PROCESS_LIMIT))
    base = Path(tempfile.mkdtemp(prefix="coderouge-sandbox-"))
    t0 = time.monotonic()
    try:
        os.chmod(base, 0o711)
        work = base / "work"
        work.mkdir()
        (work / "main.py").write_text(program, encoding="utf-8")
        (base / "boot.py").write_text(_BOOT, encoding="utf-8")
        os.chmod(base / "boot.py", 0o644)
        if drop is not None:
            os.chown(work, *drop)
            os.chown(work / "main.py", *drop)
        token = secrets.token_hex(16)
        out_p, err_p = base / "stdout", base / "stderr"
        token_r, token_w = os.pipe()
        timed_out = False
        try:
            with open(out_p, "wb") as out, open(err_p, "wb") as err:
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-I", "-B", str(base / "boot.py"), "main.py", str(token_w), "1" if not flags else "0"],
                        cwd=work, env=_env(str(work)), stdin=subprocess.PIPE, stdout=out, stderr=err,
                        pass_fds=(token_w,), start_new_session=True,
                        # the child function calls only C-level functions prepared in the parent
                        preexec_fn=_preexec(limits, flags, drop),  # noqa: PLW1509
                    )
                except (OSError, subprocess.SubprocessError) as e:
                    return SandboxResult(False, "error", f"sandbox could not start the program: {e}", isolation=iso)
                os.close(token_w)
                token_w = -1
                try:
                    assert proc.stdin is not None
                    proc.stdin.write((token + "\n").encode())
                    proc.stdin.close()
                except OSError:
                    pass
                timed_out = not _wait_unreaped(proc.pid, t0 + timeout_s)
                _kill_group(proc.pid)  # the leader is not reaped yet, so its group id is still its own
                proc.wait()
                os.set_blocking(token_r, False)
                try:
                    got = os.read(token_r, 64).decode(errors="replace")
                except BlockingIOError:
                    got = ""
        finally:
            os.close(token_r)
            if token_w >= 0:
                os.close(token_w)
        duration = time.monotonic() - t0
        stdout, stderr = _read_capped(out_p, "head"), _read_capped(err_p, "tail")
        rc = proc.returncode

        def result(status: Status, detail: str) -> SandboxResult:
            return SandboxResult(status == "passed", status, detail, stdout, stderr, rc, duration, iso)

        if timed_out:
            return result("timeout", f"timed out after {timeout_s:g} s (wall clock)")
        if rc == 0 and got == token:
            return result("passed", "")
        if rc == 0:
            return result("failed", "the program exited before its end (exit status 0 without finishing)")
        if rc < 0:
            sig = -rc
            name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
            if sig == signal.SIGXCPU:
                return result("timeout", f"CPU time limit ({cpu_s} s) reached")
            if sig == signal.SIGXFSZ:
                return result("error", f"file size limit ({FILE_SIZE_LIMIT >> 20} MB) reached: output too large")
            return result("error", f"killed by {name} (memory limit {memory_mb} MB?)" if sig in (signal.SIGSEGV, signal.SIGKILL, signal.SIGBUS, signal.SIGABRT)
                          else f"killed by {name}")
        last = _last_line(stderr)
        if "MemoryError" in last:
            return result("failed", f"MemoryError (memory limit {memory_mb} MB)")
        return result("failed", last or f"exit status {rc}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
