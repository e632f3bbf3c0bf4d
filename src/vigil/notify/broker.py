"""A throwaway Mosquitto broker on a loopback port, for tests and `vigil bench`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from vigil.errors import VigilError
from vigil.process import free_port, stop_process


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )


class Mosquitto:
    """`start()` / `stop()` may be repeated; the port stays the same across restarts.

    With `persistence=True` the broker saves sessions and queued messages on a clean stop
    and loads them on start (in `folder`).
    """

    def __init__(self, folder: Path, port: int | None = None, *, persistence: bool = False):
        exe = mosquitto_path()
        if exe is None:
            raise VigilError("mosquitto is not installed", hint="scripts/system-deps.sh test")
        self.exe = exe
        self.folder = folder
        self.port = port or free_port()
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {folder}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot use folder
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = (self.folder / "mosquitto.log").read_text(errors="replace")[-2000:]
                raise VigilError(f"mosquitto exited with {self.proc.returncode}: {text}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise VigilError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """A clean stop (SIGTERM): with persistence on, the broker saves its state first."""
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
