"""Start the learner's kernel inside the process sandbox (run as `python -I -S launch.py SPEC`).

The grader starts this file through `setpriv --pdeathsig KILL unshare --mount --net
--pid --ipc --uts --fork --kill-child`, so it runs as root in fresh namespaces. It
builds a new root filesystem out of read-only bind mounts of what Python needs (system
folders, the interpreter, the virtual environment, the mlkit package) plus size-capped
tmpfs folders (/tmp, the working folder), brings up a private loopback, sets rlimits,
drops to an unprivileged uid with no capabilities and no way to regain any, and execs
the kernel. Nothing else of the host is visible: not solutions/, not the hidden tests,
not other submissions, not the grader's output. With "mode": "rlimits" (no root or no
unshare) it only sets rlimits, changes to the working folder and execs the kernel.

Standard library only: it runs before, and outside, the learner's environment.
"""

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
DEVICES = ("null", "zero", "full", "random", "urandom")

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2), raising OSError naming the target."""
    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def bind_readonly(source: str, target: str) -> None:
    """Bind source (and what is mounted below it) at target, read-only, no setuid, no devices."""
    os.makedirs(target, exist_ok=True)
    mount(source, target, None, MS_BIND | MS_REC)
    mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def tmpfs(target: str, options: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    """A fresh tmpfs at target."""
    os.makedirs(target, exist_ok=True)
    mount("tmpfs", target, "tmpfs", flags, options)


def build_root(spec: dict[str, Any]) -> str:
    """Mount the sandbox's root filesystem under spec["root"]; return its path."""
    root: str = spec["root"]
    size, uid = spec["disk_mb"], spec["uid"]
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    tmpfs(root, "mode=755,size=16m")
    tmpfs(root + "/tmp", f"mode=1777,size={size}m")  # noqa: S108 (the sandbox's private tmpfs)
    for path in spec["readonly"]:
        if os.path.islink(path):
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        elif os.path.exists(path):
            bind_readonly(path, root + path)
    os.makedirs(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmpfs(root + "/dev", "mode=755,size=1m", MS_NOSUID | MS_NOEXEC)
    for name in DEVICES:
        open(f"{root}/dev/{name}", "w").close()
        mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    tmpfs(root + "/dev/shm", f"mode=1777,size={size}m")  # noqa: S108 (private tmpfs too)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{root}/dev/{name}")
    os.symlink("/proc/self/fd/1", f"{root}/dev/stdout")
    os.symlink("/proc/self/fd/2", f"{root}/dev/stderr")
    for folder in (spec["job"], spec["ipc"]):  # not recursive: the root is mounted in job
        os.makedirs(root + folder, exist_ok=True)
        mount(folder, root + folder, None, MS_BIND)
    readonly = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    mount("none", root + spec["job"], None, readonly)  # the sockets' folder stays writable
    tmpfs(root + spec["work"], f"mode=700,uid={uid},gid={spec['gid']},size={size}m")
    mount("none", root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return root


def loopback_up() -> None:
    """Bring up `lo` in the new network namespace: 127.0.0.1 works and reaches only itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags, b""))


def set_limits(limits: dict[str, int]) -> None:
    """Apply rlimits given as {"RLIMIT_AS": n, ...}."""
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def drop_privileges(uid: int, gid: int) -> None:
    """Become uid:gid with no supplementary groups and no capabilities, for good."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    # setuid cleared the parent-death signal that unshare's --kill-child had set
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    if spec["mode"] == "namespaces":
        root = build_root(spec)
        loopback_up()
        _check(libc.sethostname(b"mlkit-grading", 13), "sethostname")
        os.chroot(root)
        set_limits(spec["rlimits"])
        os.setsid()
        drop_privileges(spec["uid"], spec["gid"])
    else:
        set_limits(spec["rlimits"])
    os.chdir(spec["work"])
    argv = spec["argv"] + sys.argv[2:]
    os.execve(argv[0], argv, spec["env"])  # noqa: S606 (the kernel's fixed argv, no shell)


if __name__ == "__main__":
    main()
