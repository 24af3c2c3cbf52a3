"""The whole pipeline (ingest -> publish, both experiment variants) on synthetic data at growing sizes:
per step, wall seconds, peak RSS of the driver, the JVM and Spark's Python workers, rows in and out,
and the growth exponent between sizes (log time ratio / log size ratio; 1.0 = linear).

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--movies 20000] [--events-per-user 50]
        [--workdir /tmp/movierec-scale] [--set KEY=VALUE ...] [--reuse 10000]

Each size is one `movierec pipeline` process from an empty workdir (Spark start-up included), fed
`synthetic.users = size` and the same movies and events per user. A sampler polls the process tree
every 0.5 s; the pipeline's "step X started" lines on stderr say which step a sample belongs to.
`--cluster-workers 2` runs the same sizes on a Spark standalone master with that many workers on loopback (started
and stopped by the bench, one core and `--worker-memory` each; executors, workers and master count as JVM, their
Python workers as workers) in `<workdir>/cluster`, by configuration alone (`spark.master`), and prints each list's
metrics beside the local run's (`<workdir>/<size>/report.json`, from an earlier run without the flag).
Each size's figures are saved as `<workdir>/<size>/bench.json` with the commit; `--reuse 10000` reads that
size's saved figures instead of running it again (the growth table says which commits it compares).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.append(str(Path(__file__).resolve().parent))   # its sibling modules; the project's packages stay first
from cluster import standalone_cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEP_LINE = re.compile(r"step (\w+) (started|finished)")
MB = 1024 * 1024


@dataclass
class Peaks:
    driver: float = 0.0
    jvm: float = 0.0
    workers: float = 0.0
    total: float = 0.0

    def update(self, driver: float, jvm: float, workers: float) -> None:
        self.driver, self.jvm = max(self.driver, driver), max(self.jvm, jvm)
        self.workers, self.total = max(self.workers, workers), max(self.total, driver + jvm + workers)


@dataclass
class Run:
    size: int
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, Peaks] = field(default_factory=dict)
    rows: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    commit: str = ""


def memory(root: psutil.Process, cluster: list[psutil.Process] = ()) -> tuple[float, float, float]:
    """(driver, JVM, Python workers) resident MB of the pipeline's process tree, and of the `cluster`'s (a
    standalone master and workers: their executors and the executors' Python workers are their children)."""
    driver = jvm = workers = 0.0
    processes = []
    for top in (root, *cluster):
        try:
            processes += [top, *top.children(recursive=True)]
        except psutil.Error:
            continue
    for proc in processes:
        try:       # a process can end between listing and reading: skip it
            rss = proc.memory_info().rss / MB
            cmd = " ".join(proc.cmdline())
            name = proc.name()
        except psutil.Error:
            continue
        if proc.pid == root.pid:
            driver += rss
        elif "java" in name or "org.apache.spark" in cmd:
            jvm += rss
        elif "pyspark" in cmd or "python" in name:
            workers += rss
    return driver, jvm, workers


def rows_of(report: dict) -> dict[str, tuple[int | None, int | None]]:
    """(rows in, rows out) per step, from what the report counts."""
    ingest = report.get("ingest", {}).get("tables", report.get("ingest", {}))
    events = ingest.get("interactions", {}) if isinstance(ingest, dict) else {}
    features = report.get("features", {})
    publish = report.get("publish", {})
    state = report.get("_state", {})
    return {
        "ingest": (events.get("read"), events.get("landed")),
        "features": (events.get("landed"), sum(v for k, v in features.get("rows", {}).items()) if features.get("rows") else None),
        "train_eval": (state.get("train_eval", {}).get("train_events"), state.get("train_eval", {}).get("train_users")),
        "score_eval": (state.get("score_eval", {}).get("users"), state.get("score_eval", {}).get("ranked_lists")),
        "evaluate": (state.get("score_eval", {}).get("ranked_lists"), None),
        "train_full": (state.get("train_full", {}).get("train_events"), state.get("train_full", {}).get("train_users")),
        "score_full": (state.get("score_full", {}).get("users"), state.get("score_full", {}).get("ranked_lists")),
        "publish": (state.get("score_full", {}).get("ranked_lists"), publish.get("rows_written", publish.get("rows"))),
    }


def run_size(size: int, args: argparse.Namespace, cluster: list[psutil.Process] = ()) -> Run:
    workdir = args.workdir / str(size)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    report_path = workdir / "report.json"
    settings = [f"synthetic.users={size}", f"synthetic.movies={args.movies}", f"synthetic.events_per_user={args.events_per_user}",
                *args.set]
    command = [str(Path(sys.executable).with_name("movierec")), "pipeline", "--workdir", str(workdir),
               "--report", str(report_path), *(x for s in settings for x in ("--set", s))]
    run = Run(size)
    current = {"step": "start-up"}
    log = (workdir / "pipeline.log").open("w", buffering=1)   # line by line: a long run can be followed
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)

    def follow() -> None:
        for line in proc.stderr:
            log.write(line)
            match = STEP_LINE.search(line)
            if match:
                current["step"] = match.group(1) if match.group(2) == "started" else "between steps"

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    while proc.poll() is None:
        run.peaks.setdefault(current["step"], Peaks()).update(*memory(root, cluster))
        time.sleep(0.5)
    reader.join(5)
    log.close()
    run.seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"size {size}: movierec pipeline failed ({proc.returncode}); see {workdir / 'pipeline.log'}")
    run.report = json.loads(report_path.read_text())
    state_path = next((workdir / "runs").glob(f"{run.report['run_id']}/state.json"), None)
    if state_path is not None:
        run.report["_state"] = json.loads(state_path.read_text())
    run.steps = run.report["timings_seconds"]
    run.rows = rows_of(run.report)
    run.commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    saved = {**dataclasses.asdict(run), "report": {}, "metrics": list_metrics(run.report)}
    (workdir / "bench.json").write_text(json.dumps(saved, indent=1))
    return run


def reused(size: int, args: argparse.Namespace) -> Run:
    saved = json.loads((args.workdir / str(size) / "bench.json").read_text())
    saved.pop("metrics", None)
    saved["peaks"] = {step: Peaks(**p) for step, p in saved["peaks"].items()}
    saved["rows"] = {step: tuple(r) for step, r in saved["rows"].items()}
    return Run(**saved)


def fmt(value) -> str:
    return "-" if value is None else f"{value:,}"


def print_run(run: Run) -> None:
    overall = Peaks()
    for p in run.peaks.values():
        overall.update(p.driver, p.jvm, p.workers)
        overall.total = max(overall.total, p.total)
    print(f"\n## {run.size:,} users (commit {run.commit or '?'}): {run.seconds:,.0f} s wall, steps {sum(run.steps.values()):,.0f} s; "
          f"peak RSS driver {overall.driver:,.0f} MB, JVM {overall.jvm:,.0f} MB, Python workers {overall.workers:,.0f} MB, "
          f"all together {overall.total:,.0f} MB")
    print(f"{'step':<12} {'seconds':>9} {'driver MB':>10} {'JVM MB':>8} {'workers MB':>11} {'rows in':>12} {'rows out':>12}")
    for step, seconds in run.steps.items():
        p = run.peaks.get(step, Peaks())
        rows_in, rows_out = run.rows.get(step, (None, None))
        print(f"{step:<12} {seconds:>9.1f} {p.driver:>10,.0f} {p.jvm:>8,.0f} {p.workers:>11,.0f} {fmt(rows_in):>12} {fmt(rows_out):>12}")


def print_growth(runs: list[Run]) -> None:
    print("\n## growth exponent between sizes (log time ratio / log size ratio)")
    steps = list(runs[0].steps)
    print(f"{'step':<12} " + " ".join(f"{f'{a.size:,}->{b.size:,}':>20}" for a, b in zip(runs, runs[1:])))
    for step in [*steps, "total"]:
        cells = []
        for a, b in zip(runs, runs[1:]):
            ta = a.seconds if step == "total" else a.steps.get(step)
            tb = b.seconds if step == "total" else b.steps.get(step)
            cells.append(f"{math.log(tb / ta) / math.log(b.size / a.size):>20.2f}" if ta and tb else f"{'-':>20}")
        print(f"{step:<12} " + " ".join(cells))


METRICS = ("ndcg@10", "recall@10", "coverage@10")


def list_metrics(report: dict) -> dict:
    """Each list's headline metrics with their intervals, the gates' verdict and what was published."""
    intervals = report.get("intervals", {})
    return {
        "lists": {name: {m: [values.get(m), *(intervals.get(name, {}).get(m) or [None, None])] for m in METRICS}
                  for name, values in report.get("models", {}).items()},
        "gates_passed": report.get("gates", {}).get("passed"),
        "published": report.get("published_version") is not None,
        "users_evaluated": report.get("models", {}).get("final", {}).get("users"),
    }


def _with_interval(value: list) -> str:
    if value[0] is None:
        return "-"
    return f"{value[0]:.4f} [{value[1]:.4f}, {value[2]:.4f}]" if value[1] is not None else f"{value[0]:.4f}"


def print_comparison(size: int, local: dict, cluster: dict) -> None:
    """The cluster run's lists beside the local run's, metric by metric, each with its 95% interval."""
    print(f"\n## {size:,} users: local[*] against the standalone cluster (95% intervals)")
    print(f"gates passed: local {local['gates_passed']}, cluster {cluster['gates_passed']}; published: local "
          f"{local['published']}, cluster {cluster['published']}; users evaluated: local {local['users_evaluated']}, "
          f"cluster {cluster['users_evaluated']}")
    print(f"{'list':<14} {'metric':<12} {'local':>26} {'cluster':>26} {'cluster - local':>16}")
    for name, metrics in local["lists"].items():
        other = cluster["lists"].get(name, {})
        for metric, value in metrics.items():
            theirs = other.get(metric, [None, None, None])
            diff = f"{theirs[0] - value[0]:+.4f}" if None not in (theirs[0], value[0]) else "-"
            print(f"{name:<14} {metric:<12} {_with_interval(value):>26} {_with_interval(theirs):>26} {diff:>16}")


def report_metrics(workdir: Path, size: int) -> dict | None:
    """`list_metrics` of the size's report in `workdir`, None when it has not been run there."""
    path = workdir / str(size) / "report.json"
    return list_metrics(json.loads(path.read_text())) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--movies", type=int, default=20000)
    parser.add_argument("--events-per-user", type=int, default=50)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-scale"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to movierec pipeline")
    parser.add_argument("--reuse", default="", help="sizes whose saved bench.json is read instead of run")
    parser.add_argument("--cluster-workers", type=int, default=0, help="run on a standalone cluster of this many workers")
    parser.add_argument("--worker-memory", default="3g", help="each cluster worker's (and executor's) memory")
    args = parser.parse_args()
    reuse = {int(s) for s in args.reuse.split(",") if s}
    local_workdir = args.workdir
    with standalone_cluster(args.cluster_workers, args.worker_memory, args.workdir / "cluster") as cluster:
        if cluster is not None:
            args.workdir = args.workdir / "cluster"
            args.set = [f"spark.master={cluster.url}", "spark.conf={" + f'"spark.executor.memory": "{args.worker_memory}", '
                        '"spark.executor.cores": "1"}', *args.set]
            print(f"standalone cluster {cluster.url}: {args.cluster_workers} workers of 1 core and {args.worker_memory}")
        runs = []
        for size in sorted({int(s) for s in args.sizes.split(",")} | reuse):
            runs.append(reused(size, args) if size in reuse else run_size(size, args, cluster.processes() if cluster else []))
            print_run(runs[-1])
            if cluster is not None:
                local, remote = report_metrics(local_workdir, size), report_metrics(args.workdir, size)
                if local is not None and remote is not None:
                    print_comparison(size, local, remote)
            sys.stdout.flush()
    if len(runs) > 1:
        print_growth(runs)


if __name__ == "__main__":
    main()
