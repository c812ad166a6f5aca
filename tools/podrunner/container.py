"""The start of one container, run as the container's first process by the pod runner.

The runner starts ``nsenter --target SANDBOX --net --mount -- unshare --mount --propagation
private -- python container.py SPEC.json``: the process is in the pod's network and sees the
pod's shared tmpfs volumes, in a mount namespace of its own. Here it builds the container's
view of the file system, as a container runtime does, and then execs the container's command
in place (same PID, so the runner's signals reach it):

1. it joins the container's cgroup (the runner kills the whole tree through it);
2. a tmpfs becomes the container's root (its writable layer, gone when it exits): the host's
   system folders (/usr, /etc, /lib...) bound read-only, /dev, /proc and /sys bound, an empty
   /root, /tmp, /run, /var; the stand-in programs of the image (vLLM's CPU venv, the hub CLIs)
   bound under /run/modelservice-runner, outside every mountPath;
3. the pod's hosts, resolv.conf and hostname files over /etc's;
4. every volumeMount of the rendered spec, parents first, read-only where asked;
5. chroot, workingDir, the user, groups and dropped capabilities of the securityContext, then
   exec with exactly the environment the runner computed.

Standard library only: any Python 3 runs it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import stat
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

#: Host folders every image has; bound read-only (a write would change the host).
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
#: Bound as they are (devices, processes, kernel interfaces).
KERNEL = ("dev", "proc", "sys")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    if (
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
        != 0
    ):
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def bind(source: str, target: str, *, readonly: bool, recursive: bool = False) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if readonly:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def fail(reason: str, message: str, code: int = 128) -> None:
    """A start failure as the runtime reports it: one line the runner reads, then exit."""
    sys.stderr.write(f"modelservice-runner: {reason}: {message}\n")
    sys.stderr.flush()
    os._exit(code)


def build_root(spec: dict) -> str:
    root = spec["rootfs"]
    mount("tmpfs", root, "tmpfs", MS_NOSUID, "mode=0755")
    for name in sorted(os.listdir("/")):
        host = "/" + name
        inside = os.path.join(root, name)
        if os.path.islink(host):
            os.symlink(os.readlink(host), inside)
        elif name in SYSTEM and os.path.isdir(host):
            bind(host, inside, readonly=True, recursive=True)
        elif name in KERNEL and os.path.isdir(host):
            bind(host, inside, readonly=False, recursive=True)
    # An image's own empty folders. /root is 0711: a non-root user of the pod can reach the
    # stand-in interpreter bound below it, but not list or write it (as in the image, 0700).
    for name, mode in (("root", 0o711), ("tmp", 0o1777), ("run", 0o755), ("var", 0o755)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        os.chmod(os.path.join(root, name), mode)
    os.makedirs(os.path.join(root, "var", "tmp"), exist_ok=True)
    os.chmod(os.path.join(root, "var", "tmp"), 0o1777)
    for folder in spec.get("image_dirs", []):
        os.makedirs(root + folder, exist_ok=True)
    for source, target in spec["stage"]:
        bind(source, root + target, readonly=True, recursive=True)
    for source, target in spec["files"]:
        bind(source, root + target, readonly=False)
    for item in spec["mounts"]:
        target = root + item["target"]
        try:
            bind(item["source"], target, readonly=item["readonly"], recursive=True)
        except OSError as exc:
            fail("CreateContainerError", f"mounting {item['name']} at {item['target']}: {exc}")
    return root


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    # The runner's death (even SIGKILL) takes the container's first process with it.
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    with open(os.path.join(spec["cgroup"], "cgroup.procs"), "w") as procs:
        procs.write(str(os.getpid()))
    root = build_root(spec)
    if spec.get("readonly_root"):
        mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    os.chroot(root)
    workdir = spec["workdir"] or "/"
    try:
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)
    except OSError as exc:
        fail("CreateContainerError", f"workingDir {workdir}: {exc.strerror}")
    # capabilities.drop: out of the bounding set, so that not even root gets them back at exec
    # (root's permitted set after exec is its bounding set).
    for cap in spec.get("drop_caps", []):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setgroups(spec["groups"])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    if spec.get("no_new_privs"):
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    argv, env = spec["argv"], spec["env"]
    if not argv:
        fail("RunContainerError", "no command and no image entrypoint")
    program = argv[0]
    if "/" not in program:
        for folder in env.get("PATH", "").split(":"):
            candidate = os.path.join(folder or ".", program)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                program = candidate
                break
        else:
            fail(
                "StartError",
                f'exec: "{argv[0]}": executable file not found in $PATH',
            )
    elif not (os.path.isfile(program) and os.stat(program).st_mode & stat.S_IXUSR):
        fail("StartError", f'exec: "{program}": stat {program}: no such file or executable')
    sys.stdout.flush()
    os.execve(program, argv, env)


if __name__ == "__main__":
    main()
