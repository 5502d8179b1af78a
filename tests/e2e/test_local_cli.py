"""`mlops local ...` and the manager against real server processes.

Tests that stop, reset or race the emulator use a private one (`private_home`), never the session's.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from typer.testing import CliRunner

from mlops_cli.emulator import manager, processes
from mlops_cli.main import app

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
MLOPS = str(Path(sys.executable).with_name("mlops"))  # the installed entry point, next to this Python


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def mlops(*args: str) -> Run:
    """Run the CLI in this process through the root app, so its error handler sets the documented exit code.
    CliRunner's isolation gives it captured output and a stdin that is not a terminal, as in a script."""
    with CliRunner().isolation() as (stdout, stderr, _), mock.patch.object(sys, "argv", ["mlops", *args]):
        try:
            app(args=list(args), prog_name="mlops")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        return Run(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def mlops_json(*args: str) -> dict[str, Any]:
    result = mlops(*args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def s3_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def emulator_pids(home: Path) -> list[int]:
    """Every server process whose work folder is in `home` (each server's command line names it)."""
    marker = str(home / "work").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            is_server = processes.SERVER_MODULE.encode() in cmdline and marker in cmdline
            if is_server and processes.is_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def assert_gone(pid: int) -> None:
    """Neither the server nor anything in its process group still runs (exited ones awaiting their parent's
    reaping, zombies, do not count: they run nothing and hold no port)."""
    assert not processes.is_alive(pid)
    members = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[2]) == pid and stat[0] != "Z":  # fields after "(comm)": state, ppid, pgrp
            members.append(entry.name)
    assert members == []


def test_up_status_down(private_home: Path) -> None:
    started = mlops_json("local", "up")
    assert started["running"] is True and started["already_running"] is False
    assert started["endpoint_url"] == f"http://127.0.0.1:{started['port']}"
    assert started["log_path"] == str(private_home / "emulator.log")
    assert started["work_dir"] == str(private_home / "work")

    again = mlops("local", "up")
    assert again.exit_code == 0
    assert "already running" in again.stdout and started["endpoint_url"] in again.stdout
    assert mlops_json("local", "up")["pid"] == started["pid"]

    status = mlops_json("local", "status")
    assert {key: status[key] for key in ("running", "endpoint_url", "pid")} == {
        "running": True,
        "endpoint_url": started["endpoint_url"],
        "pid": started["pid"],
    }
    s3_client(status["endpoint_url"]).list_buckets()  # a real AWS endpoint

    assert mlops_json("local", "down") == {"stopped": True, "was_running": True}
    assert_gone(started["pid"])
    assert not (private_home / "state.json").exists()
    assert mlops_json("local", "status")["running"] is False
    stopped_again = mlops("local", "down")
    assert stopped_again.exit_code == 0 and "was not running" in stopped_again.stdout


def test_up_on_a_chosen_port_and_a_port_in_use(private_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = mlops("local", "up", "--port", str(port))
        assert refused.exit_code == 1
        assert f"port {port} on 127.0.0.1 is already in use" in refused.output
    assert mlops_json("local", "up", "--port", str(port))["endpoint_url"] == f"http://127.0.0.1:{port}"


def test_reset_needs_confirmation_and_wipes_buckets_and_work(private_home: Path) -> None:
    info = manager.start()[0]
    s3 = s3_client(str(info.endpoint_url))
    s3.create_bucket(Bucket="churn-local-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    job_folder = info.work_dir / "pp-churn-1" / "output"
    job_folder.mkdir(parents=True)
    (job_folder / "train.csv").write_text("a,b\n")

    unconfirmed = mlops("local", "reset")  # CliRunner's stdin is not a terminal: no prompt, exit 2
    assert unconfirmed.exit_code == 2
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["churn-local-data"]

    assert mlops_json("local", "reset", "--yes")["reset"] is True
    assert s3.list_buckets()["Buckets"] == []
    assert list(info.work_dir.iterdir()) == []
    assert manager.status().pid == info.pid  # still the same server
    # The extensions are patches of moto's classes, so they outlive the reset.
    s3.create_bucket(Bucket="churn-local-data", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_notification_configuration(
        Bucket="churn-local-data", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket="churn-local-data")


def test_reset_when_not_running_is_a_precondition(private_home: Path) -> None:
    assert mlops("local", "reset", "--yes").exit_code == 3


def test_logs_show_requests(private_home: Path) -> None:
    assert mlops("local", "logs").exit_code == 0  # no log yet: says so, still fine
    info = manager.start()[0]
    s3_client(str(info.endpoint_url)).list_buckets()

    printed = mlops("local", "logs", "--lines", "5")
    assert printed.exit_code == 0
    assert '"GET / HTTP/1.1" 200' in printed.stdout
    data = mlops_json("local", "logs", "-n", "50")
    assert data["log_path"] == str(private_home / "emulator.log")
    assert any("listening on http://127.0.0.1" in line for line in data["lines"])
    assert mlops("local", "logs", "--follow", "--json").exit_code == 2


def test_listens_on_loopback_only(emulator: manager.EmulatorInfo) -> None:
    assert emulator.port is not None
    listening = _listening_addresses(emulator.port)
    assert listening == {"127.0.0.1"}, listening

    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(2)
        probe.connect((address, emulator.port))


def _listening_addresses(port: int) -> set[str]:
    """Addresses with a listening TCP socket on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else address)
    return found


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("192.0.2.1", 9))  # TEST-NET: picks the outgoing interface; sends nothing
        except OSError:
            return None
        address = str(udp.getsockname()[0])
    return None if address.startswith("127.") else address


def test_concurrent_ensure_running_in_threads_starts_one_server(private_home: Path) -> None:
    results: list[manager.EmulatorInfo] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        results.append(manager.ensure_running())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 3
    assert len({info.pid for info in results}) == 1
    assert emulator_pids(private_home) == [results[0].pid]


def test_concurrent_ensure_running_in_processes_starts_one_server(private_home: Path) -> None:
    code = "from mlops_cli.emulator.manager import ensure_running; print(ensure_running().pid)"
    commands = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pids = {int(command.communicate(timeout=60)[0]) for command in commands}
    assert len(pids) == 1
    assert emulator_pids(private_home) == list(pids)


def test_a_dead_server_is_replaced(private_home: Path) -> None:
    first = manager.ensure_running()
    assert first.pid is not None
    os.killpg(first.pid, signal.SIGKILL)  # crashed: state.json still names it
    processes.stop_group(first.pid)  # reap it (this test process is its parent)
    assert manager.status().running is False

    second, already_running = manager.start()
    assert already_running is False and second.pid != first.pid
    assert second.replaced_lost_since == first.started_at  # its state went with it, and the start says so
    assert (private_home / "emulator.log.1").exists()  # the crashed run's log is kept

    manager.stop()  # a stop on purpose is no loss
    assert manager.start()[0].replaced_lost_since is None


def test_a_command_after_the_emulator_was_killed_says_its_state_is_gone(private_home: Path) -> None:
    first = manager.ensure_running()
    assert first.pid is not None
    os.killpg(first.pid, signal.SIGKILL)
    processes.stop_group(first.pid)

    status = mlops("storage", "status", "-c", "configs/local.yaml")  # starts a new emulator on demand
    assert status.exit_code == 0, status.output
    assert f"the emulator started at {first.started_at} ended without `mlops local down`" in status.stderr
    assert "`mlops pipeline run -c CONFIG`" in status.stderr
    again = mlops("storage", "status", "-c", "configs/local.yaml")
    assert "ended without" not in again.stderr  # said once, by the command that found the loss


def test_down_from_another_process_leaves_nothing(private_home: Path) -> None:
    started = subprocess.run([MLOPS, "local", "up", "--json"], capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    stopped = subprocess.run([MLOPS, "local", "down"], capture_output=True, text=True, check=False)
    assert stopped.returncode == 0, stopped.stderr
    assert_gone(pid)


def test_logs_follow_prints_new_lines_until_ctrl_c(private_home: Path) -> None:
    private_home.mkdir(parents=True)
    log = private_home / "emulator.log"
    log.write_text("before\n")
    follower = subprocess.Popen([MLOPS, "local", "logs", "--follow", "--lines", "1"], stdout=subprocess.PIPE, text=True)
    printed: queue.Queue[str] = queue.Queue()

    def read() -> None:  # in a thread, so a missing line fails the test instead of hanging it
        for line in follower.stdout or []:
            printed.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        assert printed.get(timeout=10) == "before\n"
        with log.open("a") as file:
            file.write("a request\n")
        assert printed.get(timeout=10) == "a request\n"
    finally:
        follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=10) == 0  # Ctrl-C is how following ends
