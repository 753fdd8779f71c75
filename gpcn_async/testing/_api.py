"""The fake's endpoints: a route table and one handler per endpoint, from request to ``Reply``.

Handlers are synchronous functions of the state (no I/O), so a fault can run one "after commit" and
throw its answer away. Validation failures answer 400 in the guide dialect and 422 with
``details.issues`` in the reference dialect.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gpcn_async.testing._catalog import GPU_COUNTS
from gpcn_async.testing._jobs import JobRecord, JobScript
from gpcn_async.testing._orders import Issues, parse_order
from gpcn_async.testing._render import (
    ROUTE_NOT_FOUND,
    Reply,
    error_body,
    inventory_data,
    job_body,
    ssh_private_key,
    success_body,
    vm_body,
)
from gpcn_async.testing._state import ACTION_STATUS, State
from gpcn_async.testing._vms import VmRecord

__all__ = ["MAX_IDS", "Api", "Call", "Handler"]

MAX_IDS = 50
"""The most ids a bulk or poll request may carry."""

_VM_NOT_FOUND = "GPU VM not found"
_BEING_DELETED = "GPU VM is already being deleted"
_SORT_FIELDS = ("createdAt", "name")
_PAST = {"start": "started", "stop": "stopped", "reset": "reset"}


@dataclass(frozen=True)
class Call:
    """A request as the handlers see it.

    Attributes:
        method: The HTTP method (upper case).
        path: The path relative to ``/v1``.
        query: The query parameters.
        body: The parsed JSON body, or None (no body, or not JSON).
    """

    method: str
    path: str
    query: Mapping[str, str]
    body: Any = None


Handler = Callable[[Call, tuple[str, ...]], Reply]


class Api:
    """Routes requests to the endpoint handlers of one dialect (``extra``: more routes)."""

    def __init__(
        self, state: State, dialect: str, extra: Sequence[tuple[str, str, Handler]] = ()
    ) -> None:
        self.state = state
        self.dialect = dialect
        vm = r"/resource/gpu/([^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/resource/gpu/inventory", self.inventory),
            ("GET", r"/resource/gpu", self.list_vms),
            ("POST", r"/resource/gpu", self.create),
            ("POST", r"/resource/gpu/bulk/(start|stop|reset)", self.bulk_action),
            ("POST", r"/resource/gpu/bulk/delete", self.bulk_delete),
            ("GET", vm + r"/ssh-key", self.ssh_key),
            ("POST", vm + r"/(start|stop|reset)", self.action),
            ("GET", vm, self.get_vm),
            ("PUT", vm, self.update),
            ("DELETE", vm, self.delete),
            ("POST", r"/resource/jobs", self.poll),
            *extra,
        ]
        self._routes = [
            (method, re.compile(pattern), handler) for method, pattern, handler in table
        ]

    def handle(self, call: Call) -> Reply:
        """Answer a request: its endpoint's reply, or 404 ``Route Not Found``."""
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(call.path)
            if match is not None and method == call.method:
                return handler(call, match.groups())
        return Reply.json(404, ROUTE_NOT_FOUND)

    # -- shared answers ----------------------------------------------------------------------

    def _ok(self, status: int, message: str, data: Any, meta: Any = None) -> Reply:
        return Reply.json(status, success_body(self.dialect, message, data, meta))

    def _error(self, status: int, message: str, *, code: str | None = None) -> Reply:
        return Reply.json(status, error_body(self.dialect, status, message=message, code=code))

    def _invalid(self, issues: Issues) -> Reply:
        if self.dialect == "guide":
            text = "; ".join(f"{path}: {message}" for path, message in issues)
            return self._error(400, f"Validation failed: {text}", code="VALIDATION_ERROR")
        details = {"issues": [{"path": path, "message": message} for path, message in issues]}
        body = error_body(self.dialect, 422, message="Request validation failed", details=details)
        return Reply.json(422, body)

    def _not_found(self) -> Reply:
        return self._error(404, _VM_NOT_FOUND)

    def _outage(self) -> Reply:
        return self._error(
            503,
            "The GPU provider is unavailable. Please try again later.",
            code="GPU_PROVIDER_UNAVAILABLE",
        )

    def _job(self, job: JobRecord) -> dict[str, Any]:
        return job_body(job, self.dialect, self.state.wall())

    def _job_ticket(self, job: JobRecord) -> dict[str, Any]:
        """The guide's short job answer: ``{jobId, status}``."""
        status = job_body(job, "guide", self.state.wall())["status"]
        return {"jobId": job.id, "status": status}

    def _vm(self, vm: VmRecord) -> dict[str, Any]:
        return vm_body(self.state, vm, self.dialect)

    # -- inventory and listing ---------------------------------------------------------------

    def inventory(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``GET /resource/gpu/inventory``: availability per series and datacenter."""
        state, query = self.state, call.query
        counts: tuple[int, ...] = GPU_COUNTS
        if "count" in query:
            count = _to_int(query["count"])
            if count is None or count not in GPU_COUNTS:
                return self._invalid([("count", "must be one of 1, 2, 4, 8")])
            counts = (count,)
        datacenters = state.catalog.datacenters
        if "datacenterId" in query:
            datacenter = state.catalog.find_datacenter(query["datacenterId"])
            if datacenter is None:
                return self._error(404, "Datacenter not found")
            datacenters = [datacenter]
        if state.provider_outage and self.dialect == "guide":
            return self._outage()
        code = query.get("code")
        series = [spec for spec in state.catalog.series if code is None or spec.code == code]
        data = inventory_data(state, self.dialect, series, datacenters, counts)
        return self._ok(200, "GPU series inventory retrieved successfully", data)

    def list_vms(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``GET /resource/gpu``: one page of VMs with pagination ``meta``."""
        query, issues = call.query, Issues()
        page = _bounded(query, "page", default=1, low=1, high=None, issues=issues)
        limit = _bounded(query, "limit", default=10, low=1, high=100, issues=issues)
        field, _, direction = query.get("sort", "createdAt:desc").partition(":")
        if field not in _SORT_FIELDS or direction not in ("", "asc", "desc"):
            issues.append(("sort", "must be createdAt or name, then :asc or :desc"))
        if issues:
            return self._invalid(issues)
        vms = list(self.state.vms.values())
        if search := query.get("search"):
            vms = [vm for vm in vms if search.casefold() in vm.name.casefold()]
        if (team := query.get("filter[teamId]")) is not None:
            vms = [vm for vm in vms if vm.team_id is not None and str(vm.team_id) == team]
        if (group := query.get("resourceGroupId")) is not None:
            vms = [vm for vm in vms if vm.resource_group_id == group]
        if field == "name":
            vms.sort(key=lambda vm: (vm.name.casefold(), vm.serial), reverse=direction == "desc")
        else:
            vms.sort(key=lambda vm: (vm.created_at, vm.serial), reverse=direction != "asc")
        total = len(vms)
        total_pages = math.ceil(total / limit)
        items = vms[(page - 1) * limit : page * limit]
        meta = {
            "total": total,
            "page": page,
            "pageSize": limit,
            "totalPages": total_pages,
            "hasNextPage": page < total_pages,
            "hasPreviousPage": page > 1,
        }
        data = [self._vm(vm) for vm in items]
        return self._ok(200, "GPU VMs retrieved successfully", data, meta)

    # -- create ------------------------------------------------------------------------------

    def create(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``POST /resource/gpu``: order a VM, answering 202 with its create job."""
        state = self.state
        order, issues = parse_order(self.state.catalog, call.body)
        if order is None:
            return self._invalid(issues)
        series, datacenter_id, gpu_count = order.series, order.datacenter_id, order.gpu_count
        if state.provider_outage:
            return self._outage()
        if state.race_creates > 0:
            state.race_creates -= 1
            state.catalog.set_availability(series.code, datacenter_id, gpu_count, available=False)
        if not state.catalog.is_available(series.code, datacenter_id, gpu_count):
            message = "The requested GPU configuration is no longer available"
            if self.dialect == "guide":
                message += ". Check inventory and retry."
            return self._error(409, message)
        sku_code = order.extras.get("skuCode")
        if sku_code is not None and sku_code not in {
            sku.code for sku in state.catalog.skus_of(series, gpu_count)
        }:
            return self._error(400, f"Unknown SKU {sku_code!r} for this configuration")
        vm_id = state.vms.add(
            name=order.name,
            status="Provisioning",
            series_code=series.code,
            gpu_count=gpu_count,
            datacenter_id=datacenter_id,
            team_id=order.team_id,
            resource_group_id=order.extras.get("resourceGroupId"),
        )
        vm = state.vms[vm_id]
        vm.image = order.extras.get("imageName", vm.image)
        vm.image_id = order.extras.get("imageId")
        vm.username = order.extras.get("username", vm.username)
        vm.sku_code = sku_code
        if (key_id := order.extras.get("sshKeyId")) is not None:
            vm.ssh_key_id, vm.ssh_key_name = key_id, f"key-{key_id[:8]}"
        state.vms.created_count += 1
        job = state.new_job("create", vm.id)
        data = self._job_ticket(job) if self.dialect == "guide" else {"jobs": [self._job(job)]}
        return self._ok(202, "GPU creation job started", data)

    # -- one VM ------------------------------------------------------------------------------

    def get_vm(self, _call: Call, groups: tuple[str, ...]) -> Reply:
        """``GET /resource/gpu/{id}``."""
        vm = self.state.vms.get(groups[0])
        if vm is None:
            return self._not_found()
        return self._ok(200, "GPU VM retrieved successfully", self._vm(vm))

    def update(self, call: Call, groups: tuple[str, ...]) -> Reply:
        """``PUT /resource/gpu/{id}``: rename, move, change key or user."""
        state, body = self.state, call.body
        vm = state.vms.get(groups[0])
        if vm is None:
            return self._not_found()
        if not isinstance(body, dict):
            return self._invalid([("body", "must be a JSON object")])
        issues = Issues()
        for key in ("name", "username"):
            if key in body and (not isinstance(body[key], str) or not body[key].strip()):
                issues.append((key, "must be a non-empty string"))
        for key in ("resourceGroupId", "sshKeyId"):
            if body.get(key) is not None and not isinstance(body[key], str):
                issues.append((key, "must be a string or null"))
        team = body.get("teamId")
        if team is not None and (isinstance(team, bool) or not isinstance(team, int | str)):
            issues.append(("teamId", "must be an integer, a string or null"))
        if issues:
            return self._invalid(issues)
        vm.name = body.get("name", vm.name)
        vm.username = body.get("username", vm.username)
        vm.team_id = body.get("teamId", vm.team_id)
        vm.resource_group_id = body.get("resourceGroupId", vm.resource_group_id)
        if "sshKeyId" in body:
            key_id = body["sshKeyId"]
            vm.ssh_key_id = key_id
            vm.ssh_key_name = None if key_id is None else f"key-{key_id[:8]}"
        vm.updated_at = state.wall()
        if not state.vms.update_returns_body:
            return Reply.json(200, success_body(self.dialect, "GPU VM updated"))
        return self._ok(200, "GPU VM updated successfully", self._vm(vm))

    def delete(self, _call: Call, groups: tuple[str, ...]) -> Reply:
        """``DELETE /resource/gpu/{id}``: 202 with a delete job, or 204 when set so."""
        state = self.state
        vm = state.vms.get(groups[0])
        if vm is None:
            return self._not_found()
        if vm.id in state.vms.deleting:
            return self._error(409, _BEING_DELETED)
        if state.vms.delete_answers_204:
            del state.vms[vm.id]
            return Reply.empty(204)
        job = state.new_job("delete", vm.id)
        if self.dialect == "guide":
            return self._ok(202, "GPU VM deletion initiated", {"jobId": job.id})
        return self._ok(202, "GPU VM deletion initiated", self._job(job))

    def action(self, _call: Call, groups: tuple[str, ...]) -> Reply:
        """``POST /resource/gpu/{id}/start|stop|reset``."""
        state = self.state
        vm_id, action = groups
        vm = state.vms.get(vm_id)
        if vm is None:
            return self._not_found()
        if vm.id in state.vms.deleting:
            return self._error(409, _BEING_DELETED)
        if action in state.unsupported:
            return self._unsupported(action)
        if state.vms.actions_answer_202:
            job = state.new_job(action, vm.id)
            data = self._job_ticket(job) if self.dialect == "guide" else self._job(job)
            return self._ok(202, f"GPU VM {action} initiated", data)
        state.vms.set_status(vm.id, ACTION_STATUS[action])
        return Reply.json(200, success_body(self.dialect, f"GPU VM {_PAST[action]} successfully"))

    def _unsupported(self, action: str) -> Reply:
        return self._error(501, f"The provider of this GPU VM does not support {action}")

    def ssh_key(self, _call: Call, groups: tuple[str, ...]) -> Reply:
        """``GET /resource/gpu/{id}/ssh-key``: the VM's (fake) private key."""
        vm = self.state.vms.get(groups[0])
        if vm is None:
            return self._not_found()
        data = {"privateKey": ssh_private_key(vm.id)}
        return self._ok(200, "SSH key retrieved successfully", data)

    # -- bulk and jobs -----------------------------------------------------------------------

    def bulk_action(self, call: Call, groups: tuple[str, ...]) -> Reply:
        """``POST /resource/gpu/bulk/start|stop|reset``: per-id results in request order."""
        state, (action,) = self.state, groups
        ids, issues = _ids(call.body, "ids")
        if issues:
            return self._invalid(issues)
        if action in state.unsupported:
            return self._unsupported(action)
        results = []
        for vm_id in ids:
            failure = state.bulk_failures.get(
                (vm_id, action), state.bulk_failures.get((vm_id, None))
            )
            if failure is None and vm_id not in state.vms:
                failure = _VM_NOT_FOUND
            if failure is None and vm_id in state.vms.deleting:
                failure = _BEING_DELETED
            if failure is None:
                state.vms.set_status(vm_id, ACTION_STATUS[action])
            results.append({"id": vm_id, "success": failure is None, "error": failure})
        succeeded = sum(1 for result in results if result["success"])
        summary = {
            "total": len(results),
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
        }
        data = {"results": results, "summary": summary}
        return self._ok(200, f"Bulk {action} completed", data)

    def bulk_delete(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``POST /resource/gpu/bulk/delete``: one delete job per id (unknown ids fail).

        With ``bulk_delete_omits`` set, the answer leaves out that many jobs (the last ones),
        though every job runs: an answer with fewer jobs than ids.
        """
        state = self.state
        ids, issues = _ids(call.body, "ids")
        if issues:
            return self._invalid(issues)
        jobs = []
        for vm_id in ids:
            script = None
            if vm_id not in state.vms:
                script = JobScript(polls=1, outcome="failed", error=_VM_NOT_FOUND)
            elif vm_id in state.vms.deleting:
                script = JobScript(polls=1, outcome="failed", error=_BEING_DELETED)
            jobs.append(state.new_job("delete", vm_id, script=script))
        jobs = jobs[: max(0, len(jobs) - state.vms.bulk_delete_omits)]
        if self.dialect == "guide":
            return self._ok(
                202, "Operation initiated successfully", [self._job_ticket(j) for j in jobs]
            )
        data = {"jobs": [self._job(job) for job in jobs]}
        return self._ok(202, "Operation initiated successfully", data)

    def poll(self, call: Call, _groups: tuple[str, ...]) -> Reply:
        """``POST /resource/jobs``: the known jobs among 1 to 50 ids, in request order."""
        ids, issues = _ids(call.body, "jobIds")
        if issues:
            return self._invalid(issues)
        jobs = self.state.poll(ids)
        data = {"jobs": [self._job(job) for job in jobs]}
        return self._ok(200, "Job progress retrieved successfully", data)


def _to_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _bounded(
    query: Mapping[str, str], name: str, *, default: int, low: int, high: int | None, issues: Issues
) -> int:
    if name not in query:
        return default
    value = _to_int(query[name])
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        issues.append((name, f"must be an integer {bounds}"))
        return default
    return value


def _ids(body: Any, key: str) -> tuple[list[str], Issues]:
    """Return the ids of a bulk or poll body, or the validation issues with it."""
    raw = body.get(key) if isinstance(body, dict) else None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_IDS:
        return [], [(key, f"must be an array of 1 to {MAX_IDS} ids")]
    if not all(isinstance(item, str) and item for item in raw):
        return [], [(key, "must contain only non-empty strings")]
    return [str(item) for item in raw], []
