"""systemd supervision over sd_notify(3): readiness, watchdog keep-alives and stopping."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping

import anyio
import structlog

log = structlog.get_logger("poller.systemd")
_DIGITS = re.compile(r"[0-9]+")


def notify_address(environ: Mapping[str, str]) -> str | None:
    """The AF_UNIX address named by $NOTIFY_SOCKET, or None when no manager listens.

    A leading '@' names a Linux abstract-namespace socket: the address starts with a NUL byte.
    """
    value = environ.get("NOTIFY_SOCKET", "")
    if not value:
        return None
    return "\0" + value[1:] if value.startswith("@") else value


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 keep-alives, or None when no watchdog expects them from `pid`.

    The manager expects keep-alives when WATCHDOG_USEC is a positive integer and WATCHDOG_PID is
    unset or `pid`; sd_watchdog_enabled(3) recommends pinging at half the timeout. Malformed
    values mean "no watchdog" rather than an error: supervision must never stop the daemon.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not _DIGITS.fullmatch(usec) or int(usec) == 0:
        return None
    if owner and not (_DIGITS.fullmatch(owner) and int(owner) == pid):
        return None
    return int(usec) / 2_000_000


class Notifier:
    """Tells the service manager how the daemon is doing; a no-op without $NOTIFY_SOCKET.

    Sends never raise and never block the event loop: supervision is advisory, so a failed send
    is logged once (`systemd_notify_failed`) and the daemon carries on, leaving systemd to act
    on its own timeouts. One datagram per state, from a fresh socket, as sd_notify(3) does.
    """

    def __init__(self, address: str | None, watchdog: float | None = None) -> None:
        self.address = address
        self.watchdog = watchdog
        self._failed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> Notifier:
        address = notify_address(environ)
        pid = os.getpid() if pid is None else pid
        return cls(address, watchdog_interval(environ, pid) if address else None)

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={' '.join(status.split())}")

    def stopping(self) -> None:
        self.send("STOPPING=1\nSTATUS=stopping: draining in-flight batches")

    async def run(self) -> None:
        """Send WATCHDOG=1 every half watchdog timeout until cancelled; returns if there is none.

        The pings come from a task on the event loop, so they prove the loop is turning: a loop
        blocked for a whole WatchdogSec= stops them and systemd restarts the service.
        """
        if self.watchdog is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await anyio.sleep(self.watchdog)

    def send(self, state: str) -> None:
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)  # a full manager queue fails the send, never stalls
                sock.sendto(state.encode(), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning(
                    "systemd_notify_failed",
                    address=self.address.replace("\0", "@", 1),
                    state=state.partition("\n")[0],
                    error=str(exc),
                )
