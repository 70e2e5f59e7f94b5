"""Run untrusted Python (model-written code) in an operating-system sandbox.

`run_python(program)` runs `program` with the machine's own Python (the real interpreter behind
`sys.executable`, `-I -S -B`: the standard library only, no site-packages or .pth files, no
bytecode written) inside bubblewrap (`bwrap`, Debian's package `bubblewrap`), and returns a
`SandboxResult`. The boundary is the kernel's, set up by bwrap:

* new user, mount, PID, network, IPC, UTS and cgroup namespaces (`--unshare-all --unshare-user`),
  no user namespaces inside (`--disable-userns`, so `unshare()`/`setns()` from inside fail), every
  capability dropped, no new privileges, a new session (no terminal);
* never root: the program is uid/gid 65534 inside; on the host it is `nobody` (65534) when
  coderouge runs as root (`setpriv` drops to it before the sandbox is built), else the calling user;
* a filesystem of only: `/usr` (with the `/bin`, `/lib`… links) and the Python installation,
  read-only; a fresh `/proc` of the new PID namespace (no other process to read); a minimal
  `/dev`; the program and the boot script read-only under `/sandbox`; a 64 MiB tmpfs `/tmp` as
  working directory, HOME and TMPDIR, gone when the run ends; the rest read-only. Nothing else
  of the host: no `/etc`, `/home`, `/root`, the store, the repository, the caller's temp files;
* an empty network namespace (only its own loopback): nothing of the host's to connect to;
* an environment of PATH, HOME, TMPDIR and the locale only, for the program and for bwrap itself;
* resource limits, set inside before the program runs (hard limits, which nothing inside can
  raise): address space, CPU seconds, file size (32 MiB, stdout and stderr included), open files,
  no core dumps, and processes (counted in the sandbox's own user namespace, so per run);
* the program is PID 1 of its PID namespace (`--as-pid-1`: no bwrap process inside, so every
  process there is the program's, under its limits), with a wall-clock timeout. When it ends,
  or is killed, the namespace ends and the kernel kills every process left in it (a `setsid()`
  child included); `--die-with-parent` ties the whole sandbox to the calling thread.

Run as root with the interpreter under a directory `nobody` cannot enter (pyenv under `/root`),
a first bwrap (as root, a mount namespace only) puts a tmpfs over that directory and binds the
installation back at its own path; then `setpriv` becomes `nobody` and starts the sandbox.

`isolation()` says what is in use (the string `SandboxResult.isolation` and the eval results
carry), found once per process by running a trivial program in the sandbox. Where no such
sandbox works (no bwrap, a kernel or container that forbids user namespaces, not Linux),
`run_python` and `isolation()` raise `SandboxUnavailableError` saying why, unless the caller
allows the unsafe fallback (`unsafe=True`, the CLI's `--unsafe-sandbox`, or the environment
variable CODEROUGE_UNSAFE_SANDBOX=1): a subprocess with the same limits, a network namespace or
the audit hook against the network, `nobody` where it can start the interpreter, a throw-away
directory; its isolation string begins with "unsafe:".

Not bounded by this design: memory across processes (the address-space limit is per process,
times the process limit) and the tmpfs's inode count (empty files cost kernel memory, not
tmpfs size); both only until the timeout. A cgroup would bound them.

Inside either sandbox a boot script also installs an audit hook (`sys.addaudithook`) that
refuses new processes, writes outside the working directory and reads of other processes'
`/proc` files. It is a net against accidents only: code can switch it off (the escape tests in
tests/test_sandbox_escapes.py do so first, and the OS layer alone stops each escape).

What the program printed is capped (`MAX_OUTPUT_CHARS`) and redacted (`redact()`) before it is
returned, so nothing stored can hold a registered key. The program passes only if it runs to its
end: exit status 0 *and* the boot script's completion token, so `sys.exit(0)` or `os._exit(0)`
halfway through is a failure (human-eval counts a `SystemExit` as a failure too).
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from ..errors import SandboxUnavailableError
from ..secrets import redact

__all__ = ["SandboxResult", "SandboxUnavailableError", "UNSAFE_ENV", "isolation", "run_python", "unsafe_allowed"]

Status = Literal["passed", "failed", "timeout", "error"]

UNSAFE_ENV = "CODEROUGE_UNSAFE_SANDBOX"  # "1": allow the unsafe fallback (the CLI's --unsafe-sandbox)
BWRAP = "bwrap"
SETPRIV = "setpriv"
SANDBOX_UID = 65534  # inside the sandbox; on the host too when coderouge runs as root ('nobody')
TMPFS_MB = 64  # the sandbox's writable /tmp
MAX_OUTPUT_CHARS = 4000  # kept of each of stdout and stderr
FILE_SIZE_LIMIT = 32 << 20  # bytes, for every file the child writes, its stdout/stderr included
OPEN_FILES_LIMIT = 64
PROCESS_LIMIT = 64  # processes of one run (in the sandbox: counted in its own user namespace)

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: Status
    detail: str
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    duration_s: float = 0.0
    isolation: str = ""  # what isolated the program: "bwrap: …", or "unsafe: …" for the fallback


# The boot script: writes "+" to the token fd (the program started), sets the resource limits,
# installs the guard, runs main.py, and writes the completion token to the fd. It gets:
# argv = [boot, main.py, token fd, block_net (0/1), limits ("AS=n:n,CPU=n:n,…" or "")], the token on stdin.
_BOOT = r'''
import os, sys

def _set_limits(spec):
    import resource
    for part in filter(None, spec.split(",")):
        name, value = part.split("=")
        soft, hard = (int(v) for v in value.split(":"))
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))

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
    main, token_fd, block_net, limits = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
    os.write(token_fd, b"+")
    token = sys.stdin.readline().strip()
    del sys.argv[1:]
    _set_limits(limits)
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

_MIN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def unsafe_allowed(unsafe: bool | None = None) -> bool:
    """Whether the unsafe fallback may run: `unsafe` when given, else CODEROUGE_UNSAFE_SANDBOX=1."""
    if unsafe is not None:
        return unsafe
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


# --- the bubblewrap sandbox ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """How to start the sandbox on this machine: the command up to the inner bwrap's per-run
    arguments, the interpreter, and the description. `error` says why there is none."""

    head: tuple[str, ...] = ()
    python: str = ""
    description: str = ""
    error: str = ""


def _ro_paths() -> list[str]:
    """The host directories the interpreter needs besides /usr: its installation prefix(es)."""
    exe = os.path.realpath(sys.executable)
    cands = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix),
             os.path.dirname(os.path.dirname(exe))}
    out: list[str] = []
    for p in sorted(cands, key=len):
        if p in ("/", "") or p == "/usr" or p.startswith("/usr/"):
            continue
        if any(p == q or p.startswith(q + "/") for q in out):
            continue
        out.append(p)
    return out


def _system_dirs() -> list[str]:
    """bwrap arguments for /usr and the top-level /bin, /lib… (links on a merged-/usr system)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


def _unreachable_for_others(paths: list[str]) -> list[str]:
    """For root dropping to nobody: arguments of a first bwrap that make `paths` reachable by any
    user at their own path. The first ancestor that others cannot enter (e.g. /root, 0700) gets a
    tmpfs (hiding the rest of it), the directories below it are made 0755, the path is bound back."""
    args: list[str] = []
    done: set[str] = set()
    for p in paths:
        parts = Path(p).parts
        blocked = None
        for i in range(2, len(parts)):  # ancestors below "/" and above p
            a = str(Path(*parts[:i]))
            try:
                if not os.stat(a).st_mode & 0o001:
                    blocked = i
                    break
            except OSError:
                break
        if blocked is None:
            continue
        top = str(Path(*parts[:blocked]))
        if top not in done:
            args += ["--perms", "0755", "--tmpfs", top]
            done.add(top)
        for j in range(blocked + 1, len(parts)):
            d = str(Path(*parts[:j]))
            if d not in done:
                args += ["--perms", "0755", "--dir", d]
                done.add(d)
        args += ["--ro-bind", p, p]
    return args


def _bwrap_version(bwrap: str) -> str:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10, env=_MIN_ENV, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _make_plan() -> _Plan:
    if not sys.platform.startswith("linux"):
        return _Plan(error=f"the sandbox needs Linux namespaces; this is {sys.platform}")
    bwrap = shutil.which(BWRAP, path=_MIN_ENV["PATH"] + ":/usr/sbin:/sbin")
    if bwrap is None:
        return _Plan(error="bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    python = os.path.realpath(sys.executable)
    extra = _ro_paths()
    head: list[str] = [bwrap]
    host_user = f"uid {os.geteuid()}"
    if os.geteuid() == 0:
        setpriv = shutil.which(SETPRIV, path=_MIN_ENV["PATH"] + ":/usr/sbin:/sbin")
        if setpriv is None:
            return _Plan(error="running as root needs setpriv (util-linux) to drop to an unprivileged user")
        try:
            nobody = pwd.getpwuid(SANDBOX_UID).pw_name
        except KeyError:
            nobody = str(SANDBOX_UID)
        host_user = f"{nobody} ({SANDBOX_UID})"
        drop = [setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups", "--", bwrap]
        reach = _unreachable_for_others(extra)
        head = [bwrap, "--dev-bind", "/", "/", *reach, "--die-with-parent", "--", *drop] if reach else drop
    head += ["--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
             "--hostname", "sandbox", "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             *_system_dirs()]
    for p in extra:
        head += ["--ro-bind", p, p]
    head += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMPFS_MB << 20), "--tmpfs", "/tmp"]
    version = _bwrap_version(bwrap).replace("bubblewrap ", "") or "?"
    desc = (f"bwrap {version}: user+mount+pid+net+ipc+uts+cgroup namespaces, uid {SANDBOX_UID}, on the host {host_user}, "
            f"no capabilities, no nested user namespaces, read-only {' and '.join(['/usr', *extra])}, "
            f"tmpfs /tmp {TMPFS_MB}M, no network, {PROCESS_LIMIT} processes, killed with its PID namespace")
    return _Plan(tuple(head), python, desc)


def _bwrap_argv(plan: _Plan, boot_fd: int, main_fd: int, token_fd: int, limits: str) -> list[str]:
    env = {**_MIN_ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}
    args = [*plan.head, "--ro-bind-data", str(boot_fd), "/sandbox/boot.py", "--ro-bind-data", str(main_fd), "/sandbox/main.py",
            "--remount-ro", "/", "--remount-ro", "/dev", "--chdir", "/tmp", "--clearenv"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    return [*args, "--", plan.python, "-I", "-S", "-B", "/sandbox/boot.py", "/sandbox/main.py", str(token_fd), "0", limits]


_plan_lock = threading.Lock()
_plan_cache: list[_Plan] = []


def _plan() -> _Plan:
    """The sandbox plan for this machine, checked once per process by running a trivial program."""
    with _plan_lock:
        if not _plan_cache:
            plan = _make_plan()
            if not plan.error:
                r = _run_bwrap(plan, "import os\nassert os.getuid() == %d\n" % SANDBOX_UID, 30.0, 256)
                if not r.passed:
                    why = "; ".join(x for x in (r.detail, _last_line(r.stderr)) if x)
                    plan = _Plan(error=f"bubblewrap cannot start a sandbox here ({why}); the kernel or container "
                                       f"may forbid user namespaces")
            _plan_cache.append(plan)
        return _plan_cache[0]


def _reset() -> None:
    """Forget what was found about this machine (for tests that change BWRAP)."""
    with _plan_lock:
        _plan_cache.clear()
    _unsafe_probe.cache_clear()


def isolation(unsafe: bool | None = None) -> str:
    """What `run_python` isolates programs with here: the bwrap sandbox's description, or, where
    there is none and `unsafe_allowed(unsafe)`, the fallback's ("unsafe: …"). Raises
    SandboxUnavailableError (saying why) where there is none and the fallback is not allowed."""
    plan = _plan()
    if not plan.error:
        return plan.description
    if not unsafe_allowed(unsafe):
        raise SandboxUnavailableError(
            f"code tasks run model-written code and need an operating-system sandbox, and none works here: {plan.error}. "
            f"Pass --unsafe-sandbox (or set {UNSAFE_ENV}=1) to run it anyway with only resource limits and an audit hook.")
    return _unsafe_description(plan.error)


def _limits_spec(timeout_s: float, memory_mb: int) -> str:
    cpu_s = int(timeout_s) + 1  # SIGXCPU at the soft limit, SIGKILL a second later
    return ",".join([f"AS={memory_mb << 20}:{memory_mb << 20}", f"CPU={cpu_s}:{cpu_s + 1}",
                     f"FSIZE={FILE_SIZE_LIMIT}:{FILE_SIZE_LIMIT}", f"NOFILE={OPEN_FILES_LIMIT}:{OPEN_FILES_LIMIT}",
                     "CORE=0:0", f"NPROC={PROCESS_LIMIT}:{PROCESS_LIMIT}"])


def _data_file(text: str) -> IO[bytes]:
    f = tempfile.TemporaryFile()
    f.write(text.encode("utf-8"))
    f.flush()
    f.seek(0)
    return f


def _run_bwrap(plan: _Plan, program: str, timeout_s: float, memory_mb: int) -> SandboxResult:
    with _data_file(_BOOT) as boot, _data_file(program) as main:
        def argv(token_fd: int) -> list[str]:
            return _bwrap_argv(plan, boot.fileno(), main.fileno(), token_fd, _limits_spec(timeout_s, memory_mb))

        # bwrap itself gets the minimal environment too: no key reaches any process of the sandbox
        return _execute(argv, None, dict(_MIN_ENV), (boot.fileno(), main.fileno()), None, timeout_s, memory_mb,
                        plan.description, signal_base=128)


# --- shared: start, wait, kill, read, judge ------------------------------------------------------


def _read_capped(f: IO[bytes], keep: str) -> str:
    """The head (stdout) or tail (stderr) of what the program wrote, at most MAX_OUTPUT_CHARS,
    redacted before it is cut (a key is never left half-visible at the cut)."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(size - MAX_OUTPUT_CHARS * 4 if size > MAX_OUTPUT_CHARS * 4 and keep == "tail" else 0)
    text = redact(f.read(MAX_OUTPUT_CHARS * 4).decode("utf-8", errors="replace"))
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


def _execute(argv, cwd: str | None, env: dict[str, str], pass_fds: tuple[int, ...], preexec, timeout_s: float,
             memory_mb: int, iso: str, signal_base: int) -> SandboxResult:
    """Start `argv(token_fd)`, feed it the token, wait up to `timeout_s`, kill its process group,
    judge. `signal_base`: bwrap reports a child killed by signal N as exit status 128 + N."""
    t0 = time.monotonic()
    token = secrets.token_hex(16)
    token_r, token_w = os.pipe()
    timed_out = False
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    argv(token_w), cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
                    pass_fds=(token_w, *pass_fds), start_new_session=True,
                    preexec_fn=preexec,  # noqa: PLW1509  (the unsafe fallback's: C-level calls only)
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
            duration = time.monotonic() - t0
            stdout, stderr = _read_capped(out, "head"), _read_capped(err, "tail")
    finally:
        os.close(token_r)
        if token_w >= 0:
            os.close(token_w)
    rc = proc.returncode
    started, finished = got.startswith("+"), got == "+" + token

    def result(status: Status, detail: str) -> SandboxResult:
        return SandboxResult(status == "passed", status, detail, stdout, stderr, rc, duration, iso)

    if timed_out:
        return result("timeout", f"timed out after {timeout_s:g} s (wall clock)")
    sig = -rc if rc < 0 else (rc - signal_base if signal_base and rc > signal_base else 0)
    if not started and sig == 0:
        return result("error", f"the sandbox could not start the program: {_last_line(stderr) or f'exit status {rc}'}")
    if rc == 0 and finished:
        return result("passed", "")
    if rc == 0:
        return result("failed", "the program exited before its end (exit status 0 without finishing)")
    if sig:
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        if sig == signal.SIGXCPU:
            return result("timeout", f"CPU time limit ({int(timeout_s) + 1} s) reached")
        if sig == signal.SIGXFSZ:
            return result("error", f"file size limit ({FILE_SIZE_LIMIT >> 20} MB) reached: output too large")
        return result("error", f"killed by {name} (memory limit {memory_mb} MB?)" if sig in (signal.SIGSEGV, signal.SIGKILL, signal.SIGBUS, signal.SIGABRT)
                      else f"killed by {name}")
    last = _last_line(stderr)
    if "MemoryError" in last:
        return result("failed", f"MemoryError (memory limit {memory_mb} MB)")
    return result("failed", last or f"exit status {rc}")


# --- the unsafe fallback: a limited subprocess, no OS isolation of files or processes -------------


@functools.lru_cache(maxsize=1)
def _libc_unshare():
    try:
        fn = ctypes.CDLL(None, use_errno=True).unshare
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


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


def _unsafe_env(workdir: str) -> dict[str, str]:
    return {**_MIN_ENV, "HOME": workdir, "TMPDIR": workdir}


def _try_start(unshare_flags: int, drop: tuple[int, int] | None) -> bool:
    """Can a child start with these namespace flags / as this user? (Runs `python -I -c pass`.)"""
    with tempfile.TemporaryDirectory(prefix="coderouge-probe-") as d:
        os.chmod(d, 0o755)
        try:
            r = subprocess.run([sys.executable, "-I", "-B", "-c", "pass"], check=False, cwd=d, env=_unsafe_env(d),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_preexec([], unshare_flags, drop), timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return r.returncode == 0


@functools.lru_cache(maxsize=1)
def _unsafe_probe() -> tuple[tuple[str, int], tuple[int, int] | None]:
    """What the fallback can use here: ((network isolation, unshare flags), drop-to user or None)."""
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


def _unsafe_description(why: str) -> str:
    (net, _), drop = _unsafe_probe()
    user = "nobody" if drop is not None else ("root" if os.geteuid() == 0 else "the calling user")
    network = {"netns": "a network namespace", "netns+userns": "a network namespace", "audit-hook": "an audit hook"}[net]
    return (f"unsafe: no OS sandbox ({why}); a subprocess as {user} with resource limits, no network by {network}, "
            f"an audit hook against files and processes (which code can switch off)")


def _run_unsafe(program: str, timeout_s: float, memory_mb: int, iso: str) -> SandboxResult:
    (_, flags), drop = _unsafe_probe()
    cpu_s = int(timeout_s) + 1
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
        block_net = "0" if flags else "1"

        def argv(token_fd: int) -> list[str]:
            return [sys.executable, "-I", "-S", "-B", str(base / "boot.py"), "main.py", str(token_fd), block_net, ""]

        return _execute(argv, str(work), _unsafe_env(str(work)), (), _preexec(limits, flags, drop), timeout_s, memory_mb,
                        iso, signal_base=0)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- the entry point -------------------------------------------------------------------------------


def run_python(program: str, timeout_s: float = 10.0, memory_mb: int = 512, *, unsafe: bool | None = None) -> SandboxResult:
    """Run `program` in the sandbox (see the module docstring). Raises SandboxUnavailableError
    where no OS sandbox works and the unsafe fallback is not allowed (`unsafe`, else
    CODEROUGE_UNSAFE_SANDBOX=1)."""
    plan = _plan()
    if not plan.error:
        return _run_bwrap(plan, program, timeout_s, memory_mb)
    return _run_unsafe(program, timeout_s, memory_mb, isolation(unsafe))
