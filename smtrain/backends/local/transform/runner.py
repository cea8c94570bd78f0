"""The local transform runner: one detached process per transform job.

    python -m smtrain.backends.local.transform.runner HOME TRANSFORM_JOB_NAME

It checks the input (before any model server starts), starts ``InstanceCount`` model servers
(the serving container ``deploy`` uses, with the batch variables of :mod:`.batch_env`, each on
127.0.0.1), gives each server its share of the input files (file i to server i mod N, as
SageMaker distributes the objects of an input across its instances), and sends each file's records
(:mod:`.records`, DataProcessing from :mod:`.data_processing`) with at most MaxConcurrentTransforms
requests in flight per server. Each file's results are written to a hidden temporary file beside
``<file>.out`` and renamed to it once whole, so the output prefix never holds a half-written
``.out``. A record the model rejects fails the job, as SageMaker does, with a FailureReason naming
the file and the record. SIGTERM (StopTransformJob) stops the servers and leaves the job Stopped.
"""

from __future__ import annotations

import http.client
import os
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import JOB_TOKEN_VARIABLE
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.transform import data_processing, inputs, records
from smtrain.backends.local.transform.batch_env import batch_environment
from smtrain.backends.local.transform.data_processing import DataProcessing, DataProcessingError
from smtrain.planning.kinds import TRANSFORM

STARTUP_TIMEOUT = 600.0
STOP_JOIN_SECONDS = 10.0
PROGRESS_SECONDS = 1.0
SERVER_STOP_GRACE = 0.5  # every request was answered (or the job is ending): nothing is left to drain
POLL_SECONDS = 0.05
INVOCATION_TIMEOUT = 600  # ModelClientConfig.InvocationsTimeoutInSeconds' default (API_ModelClientConfig)
INVOCATION_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries' default: for a connection that failed


class Stop(Exception):
    """SIGTERM arrived."""


class JobFailure(Exception):
    """The job fails with this FailureReason."""


class ServerGone(Exception):
    """A model server stopped answering (it died, or the job is being stopped)."""


class Server:
    """One started model server: its port, and a connection per thread."""

    def __init__(self, deployment: dict[str, Any], timeout: float) -> None:
        self.deployment, self.timeout = deployment, timeout
        self.port = int(deployment["port"])
        self._local = threading.local()

    def invoke(self, payload: bytes, content_type: str, accept: str) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
        for attempt in range(INVOCATION_RETRIES + 1):
            connection = self._connection()
            try:
                connection.request("POST", "/invocations", body=payload, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._local.connection = None
                connection.close()
                if attempt == INVOCATION_RETRIES:
                    raise ServerGone(f"the model server on port {self.port} did not answer "
                                     f"({type(exc).__name__}: {exc}); see its log") from None
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self._local.connection = connection
        return connection


class Runner:
    def __init__(self, home: LocalHome, name: str) -> None:
        from smtrain.backends.local.service import LocalSageMaker

        self.home, self.name = home, name
        self.service = LocalSageMaker(home)
        self.table = self.service.jobs(TRANSFORM)
        self.job = self.table.get(TRANSFORM.describe, name)
        self.transform_input = self.job["TransformInput"]
        self.output = self.job["TransformOutput"]
        self.content_type = self.transform_input.get("ContentType", "")
        self.accept = self.output.get("Accept", "")
        self.processing = DataProcessing.from_request(self.job.get("DataProcessing"))
        self.limit = int(self.job["MaxPayloadInMB"]) * records.MB
        self.concurrency = max(1, int(self.job["MaxConcurrentTransforms"]))
        self.servers: list[Server] = []
        self.threads: list[threading.Thread] = []
        self.started: list[dict[str, Any]] = []
        self.partials: set[Path] = set()
        self.stopping = False
        self.lock = threading.Lock()
        self.done = {"files": 0, "records": 0, "files_total": 0}
        self.in_flight: dict[Path, int] = {}  # records answered so far in each file being transformed
        self.reported = 0.0

    # -- the job ------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)
        token = uuid.uuid4().hex
        os.environ[JOB_TOKEN_VARIABLE] = token  # every server inherits it: a dead runner's are found by it
        self.table.update(self.name, lambda b: job_state.local(b).update(process_token=token))
        outcome = ("Completed", "")
        try:
            root, files = self._inputs()
            self._start_servers()
            self._transform(root, files)
        except Stop:
            outcome = ("Stopped", "")
        except JobFailure as failure:
            outcome = ("Failed", str(failure))
        except Exception as exc:  # the runner's own failure ends the job with its reason, never silently
            outcome = ("Failed", f"InternalServerError: the local transform runner failed: "
                                 f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.stopping = True
            self._cleanup()  # no server and no partial output outlives the job's end
            self._finish(*outcome)
        return 0

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if not self.stopping:
            self.stopping = True
            self.table.update(self.name, lambda b: job_state.local(b).update(stop_acknowledged=True))
            raise Stop

    def _say(self, message: str) -> None:
        print(f"{job_state.now_iso()} {message}", flush=True)

    def _inputs(self) -> tuple[Path, list[Path]]:
        uri = self.transform_input["DataSource"]["S3DataSource"]["S3Uri"]
        try:
            if uri.startswith("s3://"):
                from smtrain.files.s3_cache import fetch_s3

                root = fetch_s3(uri, progress=False)
            else:
                root = inputs.uri_path(uri, "inputs")
            files = inputs.check_input(root, self.transform_input)
        except inputs.InputRefused as refused:
            raise JobFailure(f"ClientError: {refused}") from None
        self._say(f"transform job {self.name}: {len(files)} input file(s) under {uri}")
        self.done["files_total"] = len(files)
        return root, files

    def _start_servers(self) -> None:
        from smtrain.backends.local.serving.container import start_container

        model = self.service.describe_model(ModelName=self.job["ModelName"])
        container = dict(model.get("PrimaryContainer") or model["Containers"][0])
        container["Environment"] = batch_environment(container.get("Environment") or {}, self.job)
        count = int(self.job["TransformResources"].get("InstanceCount", 1))
        job_dir = self.home.job_dir(self.name, TRANSFORM).absolute()
        deployments = []
        for number in range(1, count + 1):
            # The servers write to the job's log, as a SageMaker transform job's containers write to its log group.
            deployment = start_container(job_dir / f"algo-{number}", self.home.job_log(self.name, TRANSFORM).absolute(),
                                         container, self.home.venvs.absolute(), self._record_server)
            deployments.append(deployment)
        timeout = float(container["Environment"].get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or INVOCATION_TIMEOUT)
        timeout = float((self.job.get("ModelClientConfig") or {}).get("InvocationsTimeoutInSeconds") or timeout)
        for number, deployment in enumerate(deployments, start=1):
            self._await_ready(number, deployment)
            self.servers.append(Server(deployment, timeout))
        self.table.update(self.name, lambda b: b.setdefault("TransformStartTime", job_state.now_iso()))
        self._say(f"{count} model server(s) ready")

    def _record_server(self, deployment: dict[str, Any]) -> None:
        self.table.update(self.name, lambda b: job_state.local(b).setdefault("servers", []).append(
            {"pid": deployment["pid"], "port": deployment["port"]}))
        self.started.append(deployment)

    def _await_ready(self, number: int, deployment: dict[str, Any]) -> None:
        from smtrain.backends.local.serving.health import log_tail, probe

        while True:
            outcome, why = probe(deployment, STARTUP_TIMEOUT)
            if outcome == "ready":
                return
            if outcome == "failed":
                raise JobFailure(f"ClientError: the model server of instance algo-{number} did not start: {why}\n"
                                 f"{log_tail(Path(deployment['log']), 600)}")
            time.sleep(POLL_SECONDS)

    # -- the records ---------------------------------------------------------------------------
    def _transform(self, root: Path, files: list[Path]) -> None:
        destination = inputs.uri_path(self.output["S3OutputPath"], "outputs")
        shares: list[list[Path]] = [files[i::len(self.servers)] for i in range(len(self.servers))]
        errors: list[BaseException] = []
        self.threads = threads = [
            threading.Thread(target=self._run_share, args=(server, share, root, destination, errors), daemon=True)
            for server, share in zip(self.servers, shares, strict=True) if share]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # the main thread stays free to take SIGTERM
        if errors:
            raise errors[0]
        self.table.update(self.name, lambda b: job_state.local(b).update(records_done=job_state.now_iso()))
        self._say(f"transform job {self.name}: {self.done['records']} record(s) of {len(files)} file(s) done")

    def _run_share(self, server: Server, share: list[Path], root: Path, destination: Path,
                   errors: list[BaseException]) -> None:
        try:
            for file in share:
                if errors or self.stopping:
                    return
                self._transform_file(server, root, file, destination)
        except BaseException as exc:  # the first failure of any share fails the job
            errors.append(exc)

    def _transform_file(self, server: Server, root: Path, file: Path, destination: Path) -> None:
        name = inputs.output_name(root, file)
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{target.name}.{self.name}.partial"
        with self.lock:
            self.partials.add(partial)
        count = 0
        try:
            with open(partial, "wb") as out, inputs.open_input(file, self.transform_input.get("CompressionType",
                                                                                             "None")) as stream:
                for batch, (status, body) in self._answers(server, stream, file.name):
                    if status != 200:
                        self._rejected(server, batch, status, body, name[:-4])
                    self._write(out, batch, body, name[:-4])
                    count += len(batch.records)
                    self._progress(file, count)
            if self.stopping:
                raise Stop
            os.replace(partial, target)
        except ServerGone as gone:
            if self.stopping:
                raise Stop from None
            raise JobFailure(f"InternalServerError: {name[:-4]}, after record {count}: {gone}") from None
        finally:
            with self.lock:
                self.partials.discard(partial)
            partial.unlink(missing_ok=True)
        with self.lock:
            self.done["files"] += 1
            self.done["records"] += count
            self.in_flight.pop(file, None)
            progress = dict(self.done)
        self.table.update(self.name, lambda b: job_state.local(b).update(progress=progress))
        self._say(f"{name[:-4]}: {count} record(s) -> {target.name} ({progress['files']} file(s) done)")

    def _progress(self, file: Path, count: int) -> None:
        """Records and files done, in the job's record at most every PROGRESS_SECONDS (what Describe shows)."""
        with self.lock:
            self.in_flight[file] = count
            now = time.monotonic()
            if now - self.reported < PROGRESS_SECONDS:
                return
            self.reported = now
            progress = {**self.done, "records": self.done["records"] + sum(self.in_flight.values())}
        self.table.update(self.name, lambda b: job_state.local(b).update(progress=progress))

    def _answers(self, server: Server, stream: Any, file: str) -> Iterator[tuple[records.Batch, tuple[int, bytes]]]:
        """Each batch with the model's answer, in input order, at most MaxConcurrentTransforms in flight."""
        window: deque[tuple[records.Batch, Future[tuple[int, bytes]]]] = deque()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for batch in self._batches(stream, file):
                window.append((batch, pool.submit(server.invoke, batch.payload, self.content_type, self.accept)))
                if len(window) >= self.concurrency:
                    head, answer = window.popleft()
                    yield head, answer.result()
                if self.stopping:
                    raise Stop
            while window:
                head, answer = window.popleft()
                yield head, answer.result()

    def _batches(self, stream: Any, file: str) -> Iterator[records.Batch]:
        split_type = self.transform_input.get("SplitType", "None")
        strategy = self.job["BatchStrategy"]
        read = [0]

        def sent() -> Iterator[tuple[bytes, bytes]]:
            for record in records.split(stream, split_type, self.limit):
                read[0] += 1
                yield record, data_processing.filter_input(record, self.processing, self.content_type)

        try:
            yield from records.batches(sent(), strategy, self.limit)
        except records.RecordError as exc:
            raise JobFailure(f"ClientError: {file}, record {exc.index}: {exc}") from None
        except (DataProcessingError, UnicodeDecodeError) as exc:
            raise JobFailure(f"ClientError: {file}, record {read[0]}: InputFilter "
                             f"{self.processing.input_filter!r} cannot be applied: {exc}") from None

    def _rejected(self, server: Server, batch: records.Batch, status: int, body: bytes, file: str) -> None:
        """Fail the job, naming the first record the model rejects (each of a rejected batch is sent alone)."""
        culprit, message = f"records {batch.first}-{batch.last}", body
        if len(batch.records) > 1:
            for offset, record in enumerate(batch.records):
                single_status, single_body = server.invoke(record, self.content_type, self.accept)
                if single_status != 200:
                    culprit, status, message = f"record {batch.first + offset}", single_status, single_body
                    break
        elif batch.records:
            culprit = f"record {batch.first}"
        text = message.decode("utf-8", errors="replace").strip()[:400]
        raise JobFailure(f"ClientError: {file}, {culprit}: the model answered {status}: {text}")

    def _write(self, out: Any, batch: records.Batch, body: bytes, file: str) -> None:
        line = self.output.get("AssembleWith", "None") == "Line"
        if not self.processing.active:
            out.write(body)
            if line and not body.endswith(b"\n"):
                out.write(b"\n")
            return
        output_type = self.content_type if self.processing.join_input else self.accept
        try:
            values = data_processing.split_output(body, len(batch.records), self.accept)
        except (DataProcessingError, ValueError) as exc:
            raise JobFailure(f"ClientError: {file}, records {batch.first}-{batch.last}: the output cannot be "
                             f"joined or filtered: {exc}") from None
        for offset, (original, value) in enumerate(zip(batch.originals, values, strict=True)):
            try:
                joined = data_processing.join_output(original, value, self.processing, self.content_type)
            except (DataProcessingError, ValueError) as exc:
                raise JobFailure(f"ClientError: {file}, record {batch.first + offset}: OutputFilter "
                                 f"{self.processing.output_filter!r} cannot be applied: {exc}") from None
            out.write(data_processing.format_record(joined, output_type))
            out.write(b"\n" if line else b"")

    # -- the end -------------------------------------------------------------------------------
    def _cleanup(self) -> None:
        from smtrain.backends.local.serving.container import CONTAINER_MODULE
        from smtrain.backends.local.serving.health import stop_server

        for deployment in self.started:
            stop_server(int(deployment["pid"]), CONTAINER_MODULE, grace_seconds=SERVER_STOP_GRACE)
        for thread in self.threads:  # their requests fail now that the servers are gone
            thread.join(timeout=STOP_JOIN_SECONDS)
        with self.lock:
            for partial in list(self.partials):
                partial.unlink(missing_ok=True)

    def _finish(self, status: str, reason: str) -> None:
        def change(body: dict[str, Any]) -> None:
            if body[TRANSFORM.status_key] in job_state.RUNNING:
                job_state.finish(body, status, job_state.now_iso(), kind=TRANSFORM, failure_reason=reason)

        self.table.update(self.name, change)
        self._say(f"transform job {self.name}: {status}" + (f": {reason}" if reason else ""))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m smtrain.backends.local.transform.runner HOME TRANSFORM_JOB_NAME", file=sys.stderr)
        return 2
    return Runner(LocalHome(Path(args[0])), args[1]).run()


if __name__ == "__main__":
    sys.exit(main())
