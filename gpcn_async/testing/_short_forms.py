"""Short forms: ``fake.add_vm`` is ``fake.vms.add``, declared once as a class attribute.

``FakeGPCN`` groups what a test scripts by concern (``fake.catalog``, ``fake.vms``, ...); the
names tests have always used stay on ``FakeGPCN`` itself as forwarding descriptors, so that each
member is written (and documented) once, in its group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from gpcn_async.testing._account import AccountScripting, SshKeyRecord
from gpcn_async.testing._catalog import Catalog, DatacenterSpec, SeriesSpec
from gpcn_async.testing._faults import Faults
from gpcn_async.testing._job_scripting import Jobs
from gpcn_async.testing._log import RecordedRequest, RequestLog
from gpcn_async.testing._ratelimit import RateLimiter
from gpcn_async.testing._vms import Vms

__all__ = ["ShortForms", "ShortMethod", "ShortValue"]

G = TypeVar("G")
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class ShortMethod(Generic[G, P, R]):
    """A method of ``FakeGPCN`` that is a group's: ``ShortMethod("vms", VmScripting.add)``.

    It keeps the group method's signature for type checkers and its docstring for ``help()``.
    """

    def __init__(self, group: str, method: Callable[Concatenate[G, P], R]) -> None:
        self._group = group
        self._name = method.__name__
        self.__doc__ = f"Short for ``fake.{group}.{self._name}()``.\n\n{method.__doc__ or ''}"

    @overload
    def __get__(self, fake: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, fake: object, owner: type[Any] | None = None) -> Callable[P, R]: ...

    def __get__(self, fake: object, owner: type[Any] | None = None) -> Self | Callable[P, R]:
        if fake is None:
            return self
        method: Callable[P, R] = getattr(getattr(fake, self._group), self._name)
        return method


class ShortValue(Generic[T]):
    """An attribute of ``FakeGPCN`` that is a group's: ``ShortValue[int]("log", "count")``.

    Setting it sets the group's (a read-only one raises ``AttributeError``, as the group does).
    """

    def __init__(self, group: str, name: str) -> None:
        self._group = group
        self._name = name
        self.__doc__ = f"Short for ``fake.{group}.{name}``."

    @overload
    def __get__(self, fake: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, fake: object, owner: type[Any] | None = None) -> T: ...

    def __get__(self, fake: object, owner: type[Any] | None = None) -> Self | T:
        if fake is None:
            return self
        value: T = getattr(getattr(fake, self._group), self._name)
        return value

    def __set__(self, fake: object, value: T) -> None:
        setattr(getattr(fake, self._group), self._name, value)


class ShortForms:
    """The short forms of ``FakeGPCN``: the names tests have always used, each a group's member.

    - ``fake.catalog``: ``series``, ``datacenters``, ``add_series``, ``add_datacenter``,
      ``set_availability``, ``is_available``, ``clear_availability``, ``skus``, ``set_skus``;
    - ``fake.vms``: ``add_vm`` (``add``), ``created_vm_count`` (``created_count``),
      ``is_being_deleted``, ``update_returns_body``, ``delete_answers_204``,
      ``actions_answer_202``, ``bulk_delete_omits``;
    - ``fake.jobs``: ``script_jobs`` (``script_default``), ``script_next_jobs``
      (``script_next``), ``script_job`` (``script``), ``finish_job`` (``finish``), ``add_job``
      (``add``), ``poll_count``;
    - ``fake.faults``: ``inject``, ``inject_random``, ``clear_faults`` (``clear``),
      ``race_next_create``, ``set_unsupported``, ``fail_bulk``, ``clear_bulk_failures``,
      ``provider_outage``;
    - ``fake.rate_limiter``: ``set_rate_limit`` (``set``), ``rate_limit`` (``limit``),
      ``rate_window`` (``window``), ``rate_alignment`` (``alignment``), ``rate_limited_count``
      (``limited_count``), ``retry_after_header``;
    - ``fake.log``: ``requests``, ``requests_to``, ``count``, ``clear_requests`` (``clear``);
    - ``fake.account``: ``ssh_keys``, ``add_ssh_key``, ``add_non_gpu_datacenter``,
      ``set_datacenter_capabilities``, ``set_credential``, ``gpu_enabled``.
    """

    series = ShortValue[list[SeriesSpec]]("catalog", "series")
    datacenters = ShortValue[list[DatacenterSpec]]("catalog", "datacenters")
    add_series = ShortMethod("catalog", Catalog.add_series)
    add_datacenter = ShortMethod("catalog", Catalog.add_datacenter)
    set_availability = ShortMethod("catalog", Catalog.set_availability)
    is_available = ShortMethod("catalog", Catalog.is_available)
    clear_availability = ShortMethod("catalog", Catalog.clear_availability)
    skus = ShortMethod("catalog", Catalog.skus)
    set_skus = ShortMethod("catalog", Catalog.set_skus)
    add_vm = ShortMethod("vms", Vms.add)
    created_vm_count = ShortValue[int]("vms", "created_count")
    is_being_deleted = ShortMethod("vms", Vms.is_being_deleted)
    update_returns_body = ShortValue[bool]("vms", "update_returns_body")
    delete_answers_204 = ShortValue[bool]("vms", "delete_answers_204")
    actions_answer_202 = ShortValue[bool]("vms", "actions_answer_202")
    bulk_delete_omits = ShortValue[int]("vms", "bulk_delete_omits")
    script_jobs = ShortMethod("jobs", Jobs.script_default)
    script_next_jobs = ShortMethod("jobs", Jobs.script_next)
    script_job = ShortMethod("jobs", Jobs.script)
    finish_job = ShortMethod("jobs", Jobs.finish)
    add_job = ShortMethod("jobs", Jobs.add)
    poll_count = ShortMethod("jobs", Jobs.poll_count)
    inject = ShortMethod("faults", Faults.inject)
    inject_random = ShortMethod("faults", Faults.inject_random)
    clear_faults = ShortMethod("faults", Faults.clear)
    race_next_create = ShortMethod("faults", Faults.race_next_create)
    set_unsupported = ShortMethod("faults", Faults.set_unsupported)
    fail_bulk = ShortMethod("faults", Faults.fail_bulk)
    clear_bulk_failures = ShortMethod("faults", Faults.clear_bulk_failures)
    provider_outage = ShortValue[bool]("faults", "provider_outage")
    set_rate_limit = ShortMethod("rate_limiter", RateLimiter.set)
    rate_limit = ShortValue[int]("rate_limiter", "limit")
    rate_window = ShortValue[float]("rate_limiter", "window")
    rate_alignment = ShortValue[str]("rate_limiter", "alignment")
    rate_limited_count = ShortValue[int]("rate_limiter", "limited_count")
    retry_after_header = ShortValue[bool]("rate_limiter", "retry_after_header")
    requests = ShortValue[list[RecordedRequest]]("log", "requests")
    requests_to = ShortMethod("log", RequestLog.requests_to)
    count = ShortMethod("log", RequestLog.count)
    clear_requests = ShortMethod("log", RequestLog.clear)
    ssh_keys = ShortValue[dict[str, SshKeyRecord]]("account", "ssh_keys")
    add_ssh_key = ShortMethod("account", AccountScripting.add_ssh_key)
    add_non_gpu_datacenter = ShortMethod("account", AccountScripting.add_non_gpu_datacenter)
    set_datacenter_capabilities = ShortMethod(
        "account", AccountScripting.set_datacenter_capabilities
    )
    set_credential = ShortMethod("account", AccountScripting.set_credential)
    gpu_enabled = ShortValue[bool]("account", "gpu_enabled")
