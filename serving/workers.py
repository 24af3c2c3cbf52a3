"""`movierec serve --workers N`: N shared-nothing API processes on one port, kept running by this one.

Each worker binds its own socket with SO_REUSEPORT, so the kernel spreads connections over the workers.
With one shared socket (uvicorn's and gunicorn's way) asyncio's accept loop in whichever worker wakes first
takes a whole burst of connections and the others idle: measured here, one of two workers took all 300
requests of the multi-worker test.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time

from conf import Config

log = logging.getLogger("movierec.serve")
RESTART_PAUSE_SECONDS = 1.0
# A worker that dies this soon after it started, this many times in a row, will not start (a bad config, a port
# taken by another user): stop with an error instead of restarting it forever.
EARLY_EXIT_SECONDS = 30.0
EARLY_EXITS = 3


class WorkersFailed(RuntimeError):
    """API workers kept exiting right after they started."""


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(config_json: str, metrics_dir: str, host: str, port: int) -> None:
    """One API process. Its socket is bound, not listening: it joins the port's group of listeners when uvicorn
    starts serving, after start-up has loaded the manifest, so no connection waits on a worker still loading."""
    import uvicorn

    from serving.app import SHUTDOWN_SECONDS, create_app

    app = create_app(Config.model_validate_json(config_json), metrics_dir=metrics_dir)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=SHUTDOWN_SECONDS))
    server.run(sockets=[_socket(host, port, reuse_port=True)])


def run_workers(cfg: Config, host: str, port: int, workers: int, target=_worker) -> None:
    """Start `workers` processes running `target` (one API process each), restart any that dies, stop them all
    on SIGTERM or SIGINT; raise WorkersFailed when they keep dying as they start."""
    # Refuse a port in use: with SO_REUSEPORT a second server of the same user would silently share it.
    _socket(host, port, reuse_port=False).close()
    metrics_dir = tempfile.mkdtemp(prefix="movierec-metrics-")
    # prometheus_client chooses its multiprocess values from this variable when a worker imports it; it is put
    # back when the workers stop, so nothing started later by this process writes to a removed folder.
    previous_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    context = multiprocessing.get_context("spawn")
    args = (cfg.model_dump_json(), metrics_dir, host, port)
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}

    started: dict[int, float] = {}

    def start() -> multiprocessing.Process:
        process = context.Process(target=target, args=args, name="movierec-api", daemon=False)
        process.start()
        started[process.pid] = time.monotonic()
        return process

    processes = [start() for _ in range(workers)]
    early = 0
    try:
        while not stop.wait(RESTART_PAUSE_SECONDS):
            for i, process in enumerate(processes):
                # A worker that stopped on the same SIGTERM as this process is not restarted.
                if not process.is_alive() and not stop.is_set():
                    from prometheus_client import multiprocess

                    lived = time.monotonic() - started.pop(process.pid)
                    early = early + 1 if lived < EARLY_EXIT_SECONDS else 0
                    if early >= EARLY_EXITS:
                        raise WorkersFailed(f"API workers exited {early} times within {EARLY_EXIT_SECONDS:.0f} s of "
                                            f"starting (last exit code {process.exitcode}): see the errors above")
                    log.warning("API worker %d exited with %s: restarting it", process.pid, process.exitcode)
                    multiprocess.mark_process_dead(process.pid, metrics_dir)
                    processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # uvicorn's graceful shutdown: in-flight requests finish
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if previous_dir is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous_dir
