"""Process-isolated Python handlers: a pool of worker processes per function, hard timeouts."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.to_thread
import structlog

from poller.config.settings import FunctionConfig
from poller.errors import InvokeError, StartupError
from poller.invokers.context import FunctionIdentity
from poller.invokers.python import function_identity
from poller.invokers.runtime_errors import exited, out_of_memory, timed_out
from poller.invokers.worker import Worker, exchange, launch, reap
from poller.model import FunctionError, InvokeResult

log = structlog.get_logger("poller.invoke")

_RUNTIME_DIR = str(Path(__file__).resolve().parent)
_INIT_LIMIT = 10.0  # Lambda's init phase limit; a timed-out init is retried within the timeout


def code_dir(function: FunctionConfig, base_dir: Path) -> Path:
    """LAMBDA_TASK_ROOT: the directory load_handler puts on sys.path."""
    return (base_dir / function.code_uri).resolve() if function.code_uri else Path.cwd()


def worker_environment(
    function: FunctionConfig,
    identity: FunctionIdentity,
    task_root: Path,
    region: str,
    base: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """The daemon's environment, then the function's, then the runtime's reserved variables."""
    module, attr = function.module_and_attr
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        **base,
        **function.environment,
        "_HANDLER": f"{module}.{attr}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
        "AWS_LAMBDA_FUNCTION_NAME": identity.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": identity.memory_limit_in_mb,
        "AWS_LAMBDA_FUNCTION_VERSION": identity.function_version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": identity.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": identity.log_stream_name,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": _RUNTIME_DIR,
        "TZ": ":UTC",
    }


class ProcessInvoker:
    """Runs a handler in worker processes, each one Lambda execution environment.

    At most `workers` invocations run at once (more wait for a worker), each in a worker of its
    own. `start()` starts one worker, so a bad handler fails the daemon's startup with the
    runtime's StartupError wording; the rest start on demand, like Lambda's cold starts, and one
    that fails to import later fails its invocation with that init error as a function error.

    A worker imports the handler once, with cwd and LAMBDA_TASK_ROOT at the code directory and
    `worker_environment`; its address space is capped at what the bootstrap had mapped plus
    `memory_size` MB. Only the invocation fails, and the worker is reaped and replaced on demand,
    when it times out (SIGKILL: "Task timed out"), raises MemoryError (Runtime.OutOfMemory, then
    SIGKILL) or dies (Runtime.ExitError). A worker the OS will not start (out of file
    descriptors or memory) fails the invocation with InvokeError: the event never ran. Events
    reach the handler as parsed JSON.

    `reload()` (the `--watch` loop) moves the pool to the code as it is now: a worker is never
    given another invocation once a reload that succeeded began after its start.
    """

    def __init__(
        self,
        name: str,
        function: FunctionConfig,
        base_dir: Path,
        function_arn: str,
        *,
        workers: int,
        region: str,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.function_name = name
        self._function = function
        self._base_dir = base_dir
        self._function_arn = function_arn
        self._region = region
        self._timeout = float(function.timeout)
        self._task_root = code_dir(function, base_dir)
        self._slots = anyio.Semaphore(workers)
        # One thread per invocation (launch, then the exchange), and a spare for reload()'s
        # worker, so a reload never waits for a busy pool.
        self._threads = anyio.CapacityLimiter(workers + 1)
        self._idle: list[Worker] = []
        self._workers: set[Worker] = set()
        # The code generation each worker imported: a worker of an older one than
        # `_generation` finishes its invocation and is then stopped, not reused.
        self._born: dict[Worker, int] = {}
        self._generation = 0
        self._reloading = anyio.Lock()
        # The code on disk failed to import at the last reload: invocations wait for a worker
        # of the code that imported rather than cold-start one that would fail its init.
        self._broken = False
        self._returned = anyio.Event()  # a worker was released or retired
        self._closed = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        async with self._slots:
            worker = await self._spawn(None)
        if isinstance(worker, FunctionError):
            where = f"functions.{self.function_name}.handler"
            raise StartupError(f"{where}: {worker.error_type}: {worker.error_message}")
        await self._release(worker)

    async def close(self) -> None:
        """Stop every worker and reap it: idle ones exit on EOF, busy ones are killed."""
        if self._closed:
            return
        self._closed = True
        workers, idle = list(self._workers), set(self._idle)
        self._workers.clear()
        self._idle.clear()
        self._born.clear()
        self._notify()
        for worker in workers:
            if worker in idle:
                worker.close()  # the worker exits on EOF
            else:
                worker.popen.kill()
        await anyio.to_thread.run_sync(reap, [worker.popen for worker in workers])
        for worker in workers:
            worker.close()
        log.info("workers_stopped", function=self.function_name, count=len(workers))

    async def reload(self) -> FunctionError | None:
        """Move to the code as it is now: start one worker (it imports the handler afresh) and,
        once it is ready, stop the idle workers; busy ones finish their invocation and are then
        stopped instead of reused, and new invocations get workers of the new code.

        Returns the new worker's init error, or None. On an error the old workers serve on,
        and until a reload succeeds no worker is started while one of them is alive.
        """
        async with self._reloading:
            if self._closed:
                return None
            generation = self._generation + 1
            try:
                fresh = await self._spawn(None)
            except OSError as exc:  # the host's fault (EMFILE, ENOMEM): no worker to judge
                return FunctionError(f"Cannot start a worker: {exc}", type(exc).__name__)
            self._broken = isinstance(fresh, FunctionError)
            if isinstance(fresh, FunctionError):
                return fresh
            self._generation = generation
            self._born[fresh] = generation
            stale, self._idle = self._idle, []
            await self._release(fresh)
            await self._stop_idle(stale, "reloaded")
            return None

    async def _stop_idle(self, workers: list[Worker], reason: str) -> None:
        """Stop idle workers: closed first, so they exit on EOF together, then reaped."""
        for worker in workers:
            worker.close()
        for worker in workers:
            await self._retire(worker, reason, kill=False)

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        async with self._slots:
            started = time.monotonic()
            for _attempt in range(2):
                # A worker that died while idle never saw the event: retry on a fresh one.
                worker = await self._take(request_id)
                if isinstance(worker, FunctionError):
                    return self._result(request_id, time.monotonic() - started, worker)
                started = time.monotonic()
                deadline_ms = int((time.time() + self._timeout) * 1000)
                request = (request_id, deadline_ms, event)
                reply = await self._exchange(worker, request, started + self._timeout)
                if reply[0] != "unsent":
                    break
                await self._retire(worker, "exit", kill=True)
            else:
                raise InvokeError(f"{self.function_name}: cannot reach a worker")
            outcome = await self._settle(worker, reply, request_id)
            return self._result(request_id, time.monotonic() - started, outcome)

    async def _settle(
        self, worker: Worker, reply: tuple[Any, ...], request_id: str
    ) -> bytes | FunctionError:
        match reply:
            case ("ok", bytes() as payload):
                await self._release(worker)
                return payload
            case ("error", FunctionError() as error):
                await self._release(worker)
                return error
            case ("unencodable", message):
                await self._release(worker)
                raise InvokeError(f"{self.function_name}: event is not JSON: {message}")
            case ("timeout",):
                await self._retire(worker, "timeout", kill=True)
                return timed_out(request_id, self._timeout)
            case ("oom",):
                await self._retire(worker, "out_of_memory", kill=True)
                return out_of_memory(request_id)
        return exited(request_id, await self._retire(worker, "exit", kill=False))

    async def _take(self, request_id: str) -> Worker | FunctionError:
        """An idle worker, else a new one; after a failed reload, the next old one free."""
        while self._broken and not self._idle and self._workers and not self._closed:
            await self._returned.wait()
        if self._closed:
            raise InvokeError(f"{self.function_name}: the process invoker is closed")
        return self._idle.pop() if self._idle else await self._cold_start(request_id)

    def _notify(self) -> None:
        self._returned.set()
        self._returned = anyio.Event()

    async def _cold_start(self, request_id: str) -> Worker | FunctionError:
        """`_spawn` for an invocation. A worker the OS will not start (EMFILE, ENOMEM, EAGAIN, a
        missing code directory) means the event never reached the function: InvokeError, not
        Throttled, which is the concurrency limits' refusal and counts in the Throttles metric;
        this is a fault of the host, for the operator to see as one."""
        try:
            return await self._spawn(request_id)
        except OSError as exc:
            raise InvokeError(f"{self.function_name}: cannot start a worker: {exc}") from exc

    async def _spawn(self, request_id: str | None) -> Worker | FunctionError:
        """Start a worker and wait for its handler import: the worker, or the init error."""
        identity = function_identity(self.function_name, self._function, self._function_arn)
        env = worker_environment(self._function, identity, self._task_root, self._region)
        spec = (self.function_name, self._function, self._base_dir, identity)
        started = time.monotonic()
        generation = self._generation  # before the launch: the code it imports is this new
        worker = await anyio.to_thread.run_sync(
            launch, env, self._task_root, spec, limiter=self._threads
        )
        self._workers.add(worker)
        self._born[worker] = generation
        limit = _INIT_LIMIT + self._timeout
        match await self._exchange(worker, None, started + limit):
            case ("ready", float(init_ms)):
                log.info(
                    "worker_started",
                    function=self.function_name,
                    pid=worker.pid,
                    init_duration_ms=round(init_ms, 2),
                    start_ms=round((time.monotonic() - started) * 1000, 1),
                )
                return worker
            case ("init_error", str(error_type), str(message)):
                await self._retire(worker, "init_error", kill=True)
                return FunctionError(message, error_type)
            case ("timeout",):
                await self._retire(worker, "init_timeout", kill=True)
                return FunctionError(
                    f"Init timed out after {limit:.2f} seconds", "Sandbox.Timedout"
                )
        return exited(request_id, await self._retire(worker, "exit", kill=False))

    async def _exchange(
        self, worker: Worker, request: tuple[str, int, Any] | None, deadline: float
    ) -> tuple[Any, ...]:
        try:
            return await anyio.to_thread.run_sync(
                exchange,
                worker.conn,
                request,
                deadline,
                abandon_on_cancel=True,
                limiter=self._threads,
            )
        except anyio.get_cancelled_exc_class():
            # The abandoned thread sees EOF and returns; close() reaps the process.
            worker.popen.kill()
            raise

    async def _release(self, worker: Worker) -> None:
        if self._closed:
            await self._retire(worker, "closed", kill=True)
        elif self._born.get(worker) != self._generation:
            await self._stop_idle([worker], "reloaded")  # its code was replaced meanwhile
        else:
            self._idle.append(worker)
            self._notify()

    async def _retire(self, worker: Worker, reason: str, *, kill: bool) -> int:
        """Reap a worker that is done for; its exit code (negative: the signal)."""
        if kill:
            worker.popen.kill()
        await anyio.to_thread.run_sync(reap, [worker.popen])
        self._workers.discard(worker)
        self._born.pop(worker, None)
        self._notify()
        worker.close()
        returncode = worker.popen.returncode
        log.info("worker_stopped", function=self.function_name, pid=worker.pid, reason=reason)
        return returncode

    def _result(
        self, request_id: str, duration: float, outcome: bytes | FunctionError
    ) -> InvokeResult:
        if isinstance(outcome, FunctionError):
            log.warning("handler_error", function=self.function_name, **outcome.payload(request_id))
            return InvokeResult(request_id, duration, error=outcome)
        return InvokeResult(request_id, duration, payload=outcome)
