"""A two-node Ray cluster on this machine for the audit's node-loss test (helpers, no tests here).

Both nodes are started with ``ray start`` (a head and one worker node, one CPU each, small object stores,
their own temp dirs and ports), with token authentication from a throwaway token file, so nothing reads or
writes ~/.ray. Ray resolves ``--node-ip-address 127.0.0.1`` to this machine's own address: traffic stays
on this host. Every process each node started is found from its temp dir and ended by pid.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayNode:
    def __init__(self, root: str, head_port: int | None, env: dict):
        self.dir = root
        ports = [free_port() for _ in range(6)]
        lo = free_port() // 100 * 100  # a run of worker ports; ray checks they are free when it uses them
        args = [RAY, "start", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory",
                "100000000", "--disable-usage-stats", "--temp-dir", root, "--node-manager-port", str(ports[0]),
                "--object-manager-port", str(ports[1]), "--dashboard-agent-listen-port", str(ports[2]),
                "--dashboard-agent-grpc-port", str(ports[3]), "--metrics-export-port", str(ports[4]),
                "--runtime-env-agent-port", str(ports[5]), "--min-worker-port", str(lo),
                "--max-worker-port", str(lo + 60)]
        if head_port is None:
            self.port = free_port()
            args += ["--head", "--port", str(self.port), "--include-dashboard=false",
                     "--ray-client-server-port", str(free_port()), "--dashboard-port", str(free_port())]
        else:
            args += ["--address", f"127.0.0.1:{head_port}"]
        res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
        if res.returncode != 0:
            self.kill()
            raise RuntimeError(f"ray start failed: {res.stdout[-2000:]}{res.stderr[-2000:]}")

    def pids(self) -> list[int]:
        """Every process of this node: those naming its temp dir, and all their descendants."""
        import psutil

        roots = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(self.dir in a for a in p.info["cmdline"] or []):
                    roots.append(p)
            except (psutil.Error, TypeError):
                pass
        out = set()
        for p in roots:
            out.add(p.pid)
            try:
                out.update(c.pid for c in p.children(recursive=True))
            except psutil.Error:
                pass
        return sorted(out)

    def kill(self) -> None:
        """SIGKILL every process of the node: what a machine lost from the network looks like."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class TwoNodeCluster:
    def __init__(self, env_vars: dict):
        self.root = tempfile.mkdtemp(prefix="fr-", dir="/tmp")  # short: Ray's socket paths have a length limit
        token = Path(self.root) / "token"
        token.write_text(secrets.token_hex(32))
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        # a lost node is declared dead after ~3 s of failed health checks (default: ~30 s)
        fast = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
                "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}
        env = dict(os.environ, **self.auth, **fast, **env_vars)
        self.nodes: list[RayNode] = []
        try:
            self.head = RayNode(os.path.join(self.root, "h"), None, env)
            self.nodes.append(self.head)
            self.worker = RayNode(os.path.join(self.root, "w"), self.head.port, env)
            self.nodes.append(self.worker)
        except BaseException:
            self.close()
            raise
        self.address = f"127.0.0.1:{self.head.port}"

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)
