"""Wall time and peak memory of a whole command, as a user runs it.

Peak memory is the resident set of the largest process, from the kernel's own accounting as
GNU time reports it (the command or any worker it waited for; a process started straight from
the benchmark's own Python would inherit that interpreter's peak), and the resident sets of
the command and its workers added up, sampled every 5 ms while it runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
#: GNU time (Debian package `time`): the peak resident set of exactly the command.
GNU_TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Sample:
    seconds: float
    #: Peak resident set of the largest single process, MiB.
    peak_mib: float
    #: Peak of the summed resident sets of the process and its descendants (sampled), MiB.
    tree_mib: float


@dataclass(frozen=True)
class Measured:
    samples: list[Sample]

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mib(self) -> float:
        return max(s.peak_mib for s in self.samples)

    @property
    def tree_mib(self) -> float:
        return max(s.tree_mib for s in self.samples)


def tool(name: str) -> str:
    """A console script of this venv (the one running the benchmark)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return found or name


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(c) for c in handle.read().split())
        except OSError:
            continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_once(command: list[str], ok_codes: tuple[int, ...] = (0,)) -> Sample:
    """Run ``command`` once; its output is discarded, a failure raises."""
    report = tempfile.NamedTemporaryFile(prefix="bench-time-", delete=False)
    report.close()
    timed = [GNU_TIME, "--quiet", "-f", "%M", "-o", report.name, *command]
    start = time.perf_counter()
    proc = subprocess.Popen(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            tree[0] = max(tree[0], sum(_rss_kib(p) for p in _descendants(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    errors = proc.stderr.read()
    proc.wait()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    text = Path(report.name).read_text(encoding="ascii").split()
    os.unlink(report.name)
    if proc.returncode not in ok_codes:
        raise RuntimeError(
            f"{' '.join(command[:3])} ... exited {proc.returncode}: {errors.decode()[-2000:]}"
        )
    peak = int(text[-1]) / 1024 if text else 0.0
    return Sample(seconds, peak, max(tree[0] / 1024, peak))


def compare(commands: list[list[str]], runs: int = RUNS) -> list[Measured]:
    """Median wall time and peak memory of each command, run alternately (one warm-up run
    each, then ``runs`` rounds), so that both see the same load of a shared machine."""
    for command in commands:
        run_once(command)
    rounds: list[list[Sample]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            rounds[index].append(run_once(command))
    return [Measured(samples) for samples in rounds]
