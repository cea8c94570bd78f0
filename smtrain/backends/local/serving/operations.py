"""Local endpoints: SageMaker's model, endpoint-config and endpoint operations.

Shaped like ``boto3.client("sagemaker")``: PascalCase keyword arguments, the
real response shapes (ARNs in account 000000000000, times as tz-aware
datetimes), ``ClientError("ValidationException")`` with SageMaker's messages.

An endpoint is a model container (:mod:`.container`) started as a detached
process group, so it outlives the CLI; every endpoint of a home is reached
through one runtime gateway (:mod:`.runtime`), started with the first
endpoint and stopped with the last. ``CreateEndpoint`` returns at once with
``Creating``; ``DescribeEndpoint`` moves it to ``InService`` once ``/ping``
answers 200, or to ``Failed`` with the tail of the server log. An update
whose new container fails rolls back, as SageMaker's blue/green deployment
does: ``InService`` on the old config, with the ``FailureReason``. Once the
new container answers, the gateway is switched to it, and only then is the
old one stopped: gracefully, so it finishes (drains) the requests it holds.

Each server runs under a keeper (:mod:`.keeper`) that restarts a dead master
at once on the same socket. If the keeper itself is gone (killed, machine
restarted), the next ``DescribeEndpoint`` or ``runtime_url()`` starts the
server again, on the same port when it is free, as SageMaker replaces a
failed instance.

Each deployment lives in ``endpoints/<name>/v<generation>/{model,code}`` so
that ``UpdateEndpoint`` can start the new container before stopping the old
one; ``endpoints/<name>/server.log`` collects every generation's output.
Only the first production variant is served, by one container.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from typing import Any

from smtrain.backends.local.errors import client_error
from smtrain.backends.local.serving.responses import listing, shaped
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.state import StateDB

ACCOUNT = "000000000000"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DEFAULT_STARTUP_TIMEOUT = 600
FAILURE_REASON_LIMIT = 1024
DELETE_GRACE = 2.0  # a deleted endpoint's container gets this long to answer what it holds
KINDS = {"model": "model", "endpoint-config": "endpoint configuration", "endpoint": "endpoint"}


class EndpointsAPI:
    home: LocalHome
    db: StateDB
    region: str
    runtime_port: int

    # -- models ---------------------------------------------------------------

    def create_model(
        self, *, ModelName: str, Tags: list[dict[str, str]] | None = None, **request: Any,
    ) -> dict[str, Any]:
        _check_name("CreateModel", "modelName", ModelName)
        if not request.get("PrimaryContainer") and not request.get("Containers"):
            raise _invalid("CreateModel", "Either PrimaryContainer or Containers is required.")
        arn = self._arn("model", ModelName)
        body = {"ModelName": ModelName, **request, "CreationTime": time.time(), "ModelArn": arn,
                "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
                "_local": {"tags": list(Tags or [])}}
        if not self.db.insert("model", ModelName, body):
            raise client_error("CreateModel", "ValidationException", f'Cannot create already existing model "{arn}".')
        return {"ModelArn": arn}

    def describe_model(self, *, ModelName: str) -> dict[str, Any]:
        return shaped(self._get("DescribeModel", "model", ModelName))

    def delete_model(self, *, ModelName: str) -> dict[str, Any]:
        self._delete("DeleteModel", "model", ModelName)
        return {}

    def list_models(self, **filters: Any) -> dict[str, Any]:
        return listing(self.db.list("model"), "Models", "ModelName", filters, ("ModelArn", "CreationTime"))

    # -- endpoint configs -----------------------------------------------------

    def create_endpoint_config(
        self, *, EndpointConfigName: str, ProductionVariants: list[dict[str, Any]],
        Tags: list[dict[str, str]] | None = None, **request: Any,
    ) -> dict[str, Any]:
        _check_name("CreateEndpointConfig", "endpointConfigName", EndpointConfigName)
        if not ProductionVariants:
            raise _invalid("CreateEndpointConfig", "ProductionVariants must not be empty.")
        for variant in ProductionVariants:
            self._get("CreateEndpointConfig", "model", variant["ModelName"])
        arn = self._arn("endpoint-config", EndpointConfigName)
        body = {"EndpointConfigName": EndpointConfigName, "EndpointConfigArn": arn,
                "ProductionVariants": ProductionVariants, **request, "CreationTime": time.time(),
                "_local": {"tags": list(Tags or [])}}
        if not self.db.insert("endpoint-config", EndpointConfigName, body):
            raise _invalid("CreateEndpointConfig",
                               f'Cannot create already existing endpoint configuration "{arn}".')
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:
        return shaped(self._get("DescribeEndpointConfig", "endpoint-config", EndpointConfigName))

    def delete_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:
        self._delete("DeleteEndpointConfig", "endpoint-config", EndpointConfigName)
        return {}

    def list_endpoint_configs(self, **filters: Any) -> dict[str, Any]:
        return listing(self.db.list("endpoint-config"), "EndpointConfigs", "EndpointConfigName", filters,
                        ("EndpointConfigArn", "CreationTime"))

    # -- endpoints ------------------------------------------------------------

    def create_endpoint(
        self, *, EndpointName: str, EndpointConfigName: str, Tags: list[dict[str, str]] | None = None, **request: Any,
    ) -> dict[str, Any]:
        _check_name("CreateEndpoint", "endpointName", EndpointName)
        config = self._get("CreateEndpoint", "endpoint-config", EndpointConfigName)
        arn = self._arn("endpoint", EndpointName)
        now = time.time()
        body = {"EndpointName": EndpointName, "EndpointArn": arn, "EndpointConfigName": EndpointConfigName, **request,
                "EndpointStatus": "Creating", "CreationTime": now, "LastModifiedTime": now,
                "_local": {"generation": 1, "current": None, "pending": None, "tags": list(Tags or [])}}
        if not self.db.insert("endpoint", EndpointName, body):
            raise _invalid("CreateEndpoint", f'Cannot create already existing endpoint "{arn}".')
        self._start("CreateEndpoint", EndpointName, config, 1, "current")
        self._ensure_gateway()
        return {"EndpointArn": arn}

    def describe_endpoint(self, *, EndpointName: str) -> dict[str, Any]:
        return shaped(self._refresh(self._get("DescribeEndpoint", "endpoint", EndpointName)))

    def update_endpoint(self, *, EndpointName: str, EndpointConfigName: str, **request: Any) -> dict[str, Any]:
        body = self._get("UpdateEndpoint", "endpoint", EndpointName)
        config = self._get("UpdateEndpoint", "endpoint-config", EndpointConfigName)
        started: list[int] = []

        def start_update(b: dict[str, Any]) -> None:
            if b["EndpointStatus"] == "InService":
                b.update(EndpointStatus="Updating", LastModifiedTime=time.time())
                b.pop("FailureReason", None)
                b["_local"]["generation"] += 1
                started.append(b["_local"]["generation"])

        self.db.update("endpoint", EndpointName, start_update)
        if not started:
            state = "failed" if body["EndpointStatus"] == "Failed" else "in-progress"
            raise _invalid("UpdateEndpoint",
                               f'Cannot update {state} endpoint "{body["EndpointArn"]}".')
        self._start("UpdateEndpoint", EndpointName, config, started[0], "pending")
        return {"EndpointArn": body["EndpointArn"]}

    def delete_endpoint(self, *, EndpointName: str) -> dict[str, Any]:
        body = self._get("DeleteEndpoint", "endpoint", EndpointName)
        from concurrent.futures import ThreadPoolExecutor

        self.db.delete("endpoint", EndpointName)
        # the gateway (when this was the last endpoint) and the containers drain at the same time, so an idle
        # teardown waits for the slower of them rather than for their sum
        with ThreadPoolExecutor(max_workers=1) as pool:
            gateway = pool.submit(self._stop_gateway_if_idle)
            for slot in ("pending", "current"):
                if body["_local"].get(slot):
                    _stop(body["_local"][slot], grace_seconds=DELETE_GRACE)
            shutil.rmtree(self.home.endpoint_dir(EndpointName), ignore_errors=True)
            gateway.result()
        return {}

    def list_endpoints(self, **filters: Any) -> dict[str, Any]:
        rows = [self._refresh(row) for row in self.db.list("endpoint")]
        if filters.get("StatusEquals"):
            rows = [row for row in rows if row["EndpointStatus"] == filters["StatusEquals"]]
        return listing(rows, "Endpoints", "EndpointName", filters,
                        ("EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"))

    def runtime_url(self) -> str:
        """The runtime gateway's base URL, for ``boto3.client("sagemaker-runtime", endpoint_url=...)``."""
        from smtrain.backends.local.serving.runtime import recorded_url

        endpoints = self.db.list("endpoint")
        for endpoint in endpoints:
            self._heal(endpoint)
        if endpoints:
            return self._ensure_gateway()
        return recorded_url(self.home, self.db, self._requested_port())

    def list_tags(self, *, ResourceArn: str, **_: Any) -> dict[str, Any]:
        """The tags of a model, endpoint config or endpoint, by ARN."""
        kind = ResourceArn.rsplit(":", 1)[-1].split("/", 1)[0]
        arn_keys = ("ModelArn", "EndpointConfigArn", "EndpointArn")
        for body in self.db.list(kind) if kind in KINDS else []:
            if ResourceArn in (body.get(key) for key in arn_keys):
                return {"Tags": list(body["_local"].get("tags", []))}
        raise _invalid("ListTags", f"Resource {ResourceArn} not found.")

    # -- deployments ----------------------------------------------------------

    def _start(self, operation: str, name: str, config: dict[str, Any], generation: int, slot: str) -> None:
        """Start a container for ``config``; what cannot start fails the endpoint (or rolls the update back)."""
        def record(deployment: dict[str, Any]) -> None:  # before the server runs, so a rollback finds it
            if self.db.update("endpoint", name, lambda b: b["_local"].update({slot: deployment})) is None:
                raise EndpointGone(name)

        try:
            self._deploy(operation, name, config, generation, record)
        except Exception as exc:
            reason = _reason(exc)
            self.db.update("endpoint", name, lambda b: _record_failure(b, reason))

    def _deploy(
        self, operation: str, name: str, config: dict[str, Any], generation: int,
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        from smtrain.backends.local.serving.container import start_container

        variant = config["ProductionVariants"][0]
        model = self._get(operation, "model", variant["ModelName"])
        container = model.get("PrimaryContainer") or model["Containers"][0]
        endpoint_dir = self.home.endpoint_dir(name).absolute()  # the server runs in its code dir
        startup = variant.get("ContainerStartupHealthCheckTimeoutInSeconds") or DEFAULT_STARTUP_TIMEOUT
        about = {"config": config["EndpointConfigName"], "variant": variant.get("VariantName", "AllTraffic"),
                 "image": container.get("Image", ""), "startup_timeout": startup}
        start_container(endpoint_dir / f"v{generation}", endpoint_dir / "server.log", container,
                         self.home.venvs.absolute(), lambda deployment: record({**deployment, **about}))

    def _refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        """Settle a Creating or Updating endpoint whose container has answered (or died)."""
        from smtrain.backends.local.serving.health import probe

        body = self._heal(body)
        status = body["EndpointStatus"]
        slot = {"Creating": "current", "Updating": "pending"}.get(status)
        deployment = body["_local"].get(slot) if slot else None
        if not deployment:
            return body
        outcome, why = probe(deployment, float(deployment["startup_timeout"]))
        if outcome == "starting":
            return body
        if outcome == "ready":
            return self._settle_ready(body, status)
        return self._settle_failed(body, status, deployment, why)

    def _heal(self, body: dict[str, Any]) -> dict[str, Any]:
        """Restart the server of an in-service endpoint that died (killed, or the machine restarted),
        as SageMaker replaces a failed instance; the endpoint stays InService."""
        from smtrain.backends.local.serving.container import launch
        from smtrain.backends.local.serving.health import running

        dead = body["_local"].get("current")
        if body["EndpointStatus"] != "InService" or not dead or running(dead):
            return body
        _stop(dead)  # what is left of it: a master or workers that outlived their keeper
        healed: dict[str, Any] = {}

        def swap_in(replacement: dict[str, Any]) -> None:
            def swap(b: dict[str, Any]) -> None:
                if (b["_local"].get("current") or {}).get("pid") != dead["pid"]:
                    raise HealedElsewhere
                b["_local"]["current"] = replacement

            healed.update(self.db.update("endpoint", body["EndpointName"], swap) or {})
            if not healed:
                raise HealedElsewhere  # deleted meanwhile

        try:
            launch(dead, port=int(dead.get("port") or 0), record=swap_in)
        except HealedElsewhere:
            return self.db.get("endpoint", body["EndpointName"]) or body  # its replacement never ran
        except Exception:
            return body  # its files are gone; the gateway answers ModelNotReadyException
        return healed

    def _settle_ready(self, body: dict[str, Any], status: str) -> dict[str, Any]:
        replaced: list[dict[str, Any]] = []

        def ready(b: dict[str, Any]) -> None:
            if b["EndpointStatus"] != status:
                return
            local = b["_local"]
            if status == "Updating":
                replaced.append(local["current"])
                local["current"], local["pending"] = local["pending"], None
            b.update(EndpointStatus="InService", LastModifiedTime=time.time(),
                     EndpointConfigName=local["current"]["config"],
                     ProductionVariants=[_deployed_variant(local["current"])])

        updated = self.db.update("endpoint", body["EndpointName"], ready)
        for old in replaced:
            _stop(old)
            shutil.rmtree(old["dir"], ignore_errors=True)
        return updated or body

    def _settle_failed(
        self, body: dict[str, Any], status: str, deployment: dict[str, Any], why: str,
    ) -> dict[str, Any]:
        """A new endpoint fails; a failed update rolls back to the running container, as blue/green does."""
        from smtrain.backends.local.serving.health import log_tail

        acted: list[bool] = []
        head = (f"The primary container for production variant {deployment['variant']} did not pass the ping "
                f"health check: {why}. Server log {deployment['log']}, last lines:\n")
        reason = head + log_tail(self.home.endpoint_dir(body["EndpointName"]) / "server.log",
                                 max(0, FAILURE_REASON_LIMIT - len(head)))

        def fail(b: dict[str, Any]) -> None:
            if b["EndpointStatus"] == status:
                _record_failure(b, reason)
                acted.append(True)

        updated = self.db.update("endpoint", body["EndpointName"], fail)
        if acted:
            _stop(deployment)
            if status == "Updating":
                shutil.rmtree(deployment["dir"], ignore_errors=True)
        return updated or body

    # -- gateway --------------------------------------------------------------

    def _requested_port(self) -> int:
        return self.runtime_port or int(os.environ.get("SMTRAIN_RUNTIME_PORT") or 0)

    def _ensure_gateway(self) -> str:
        from smtrain.backends.local.serving.runtime import ensure_gateway

        return ensure_gateway(self.home, self.db, self._requested_port())

    def _stop_gateway_if_idle(self) -> None:
        from smtrain.backends.local.serving.runtime import stop_gateway_if_idle

        stop_gateway_if_idle(self.home, self.db)

    # -- records --------------------------------------------------------------

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name.lower()}"

    def _get(self, operation: str, kind: str, name: str) -> dict[str, Any]:
        body = self.db.get(kind, name)
        if body is None:
            raise self._not_found(operation, kind, name)
        return body

    def _delete(self, operation: str, kind: str, name: str) -> None:
        if not self.db.delete(kind, name):
            raise self._not_found(operation, kind, name)

    def _not_found(self, operation: str, kind: str, name: str) -> Exception:
        return _invalid(operation, f'Could not find {KINDS[kind]} "{self._arn(kind, name)}".')


class HealedElsewhere(Exception):
    """Another smtrain process restarted (or deleted) the endpoint's server first."""


class EndpointGone(Exception):
    """The endpoint was deleted while its server was being started."""


def _stop(deployment: dict[str, Any], grace_seconds: float | None = None) -> None:
    """Stop a container gracefully (it drains its requests), or within ``grace_seconds``."""
    from smtrain.backends.local.serving.container import CONTAINER_MODULE
    from smtrain.backends.local.serving.health import stop_server
    from smtrain.backends.local.serving.timeouts import STOP_GRACE

    stop_server(int(deployment["pid"]), CONTAINER_MODULE, STOP_GRACE if grace_seconds is None else grace_seconds)


def _invalid(operation: str, message: str) -> Exception:
    return client_error(operation, "ValidationException", message)


def _record_failure(body: dict[str, Any], reason: str) -> None:
    local = body["_local"]
    if body["EndpointStatus"] == "Updating":
        local["pending"] = None
        body["EndpointStatus"] = "InService"
    else:
        local["current"] = None
        body["EndpointStatus"] = "Failed"
    body.update(FailureReason=reason[:FAILURE_REASON_LIMIT], LastModifiedTime=time.time())


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:FAILURE_REASON_LIMIT]


def _deployed_variant(deployment: dict[str, Any]) -> dict[str, Any]:
    image = deployment.get("image", "")
    return {
        "VariantName": deployment["variant"],
        "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": deployment["started"]}],
        "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1, "DesiredInstanceCount": 1,
    }


def _check_name(operation: str, field: str, value: str) -> None:
    """SageMaker's name constraint; it also keeps names safe as directory names."""
    if not NAME_PATTERN.match(value or ""):
        raise _invalid(operation,
                       f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
                           f"Member must satisfy regular expression pattern: {NAME_PATTERN.pattern}")
