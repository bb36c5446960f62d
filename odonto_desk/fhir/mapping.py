"""The registry of domain ⇄ FHIR mappers, and the overlay rule that keeps round trips lossless.

Each resource module registers a :class:`Mapper` for one domain type and one resource type.
``to_fhir(obj, base=raw)`` writes the elements the domain owns on top of ``base`` (the raw JSON
the server sent, kept by the cache), so elements we do not model — narrative, notes, displays,
other extensions — survive an edit. When the domain object is exactly what ``base`` already
says, ``base`` comes back unchanged, byte for byte after ``json.dumps``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from odonto_desk.fhir.errors import FhirMappingError

Resource = dict[str, Any]


def _accept_all(resource: Resource) -> bool:
    return True


@dataclass(frozen=True)
class Mapper:
    """How one domain type travels. ``build`` may produce any of ``resource_types`` (a chart
    mark is a Condition, a Procedure or a ServiceRequest depending on its status); ``accepts``
    tells resources of a shared type apart (a lab order and a plan line are both ServiceRequests)."""

    resource_types: tuple[str, ...]
    domain_type: type
    build: Callable[[Any], Resource]  # domain → fresh resource (every element the domain owns)
    read: Callable[[Resource], Any]  # resource → domain (raises FhirMappingError with a path)
    owned: tuple[str, ...]  # top-level elements ``build`` owns (replaced on overlay)
    accepts: Callable[[Resource], bool] = _accept_all


_BY_DOMAIN: dict[type, Mapper] = {}
_BY_RESOURCE: dict[str, list[Mapper]] = {}


def register(mapper: Mapper) -> Mapper:
    if mapper.domain_type in _BY_DOMAIN:
        raise RuntimeError(f"a mapper for {mapper.domain_type.__name__} is already registered")
    _BY_DOMAIN[mapper.domain_type] = mapper
    for rtype in mapper.resource_types:
        _BY_RESOURCE.setdefault(rtype, []).append(mapper)
    return mapper


@functools.cache
def _load_all() -> None:
    """Import every resource module once (importing one registers its mapper).

    They are found by listing the package, so nothing imports them by name: a frozen build must
    collect them itself (``packaging/odonto-desk.spec``). Finding none is said at once rather than
    surfacing later as "no FHIR mapping" on the first chart mark.
    """
    import importlib
    import pkgutil

    from odonto_desk.fhir import resources

    names = [i.name for i in pkgutil.iter_modules(resources.__path__) if not i.name.startswith("_")]
    if not names:
        raise ImportError(f"no FHIR mapping modules found in {resources.__name__} (a build that left them out?)")
    for name in names:
        importlib.import_module(f"{resources.__name__}.{name}")


def mapper_for_domain(obj: Any) -> Mapper:
    _load_all()
    for cls in type(obj).__mro__:
        m = _BY_DOMAIN.get(cls)
        if m is not None:
            return m
    raise TypeError(f"no FHIR mapping for {type(obj).__name__}")


def mapper_for_resource(resource: Resource) -> Mapper:
    _load_all()
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(rtype, str):
        raise FhirMappingError("not a FHIR resource: resourceType is missing", path="resourceType")
    for m in _BY_RESOURCE.get(rtype, []):
        if m.accepts(resource):
            return m
    raise FhirMappingError(f"no domain mapping for resource type {rtype!r}", path="resourceType")


def to_fhir(obj: Any, *, base: Resource | None = None) -> Resource:
    """The resource for ``obj``; with ``base``, only the elements the domain owns are replaced."""
    m = mapper_for_domain(obj)
    if base is not None:
        try:
            if m.read(base) == obj:
                return copy.deepcopy(base)
        except FhirMappingError:
            pass  # the base no longer reads: rebuild the owned elements below
    fresh = m.build(obj)
    if base is None:
        return fresh
    if base.get("resourceType") != fresh["resourceType"]:
        return fresh  # e.g. a planned mark became a completed one: a new resource type
    out = copy.deepcopy(base)
    # The base's narrative described the old content; a stale narrative misleads a reader.
    out.pop("text", None)
    for key in m.owned:
        if key in fresh:
            out[key] = fresh[key]
        else:
            out.pop(key, None)
    # Keep id and meta of the base (server-assigned) unless the domain set an id.
    if "id" in fresh:
        out["id"] = fresh["id"]
    return _ordered(out, fresh)


def from_fhir(resource: Resource, *, expect: type | None = None) -> Any:
    """The domain object for ``resource``. ``expect`` checks its domain type."""
    if expect is not None:
        _load_all()
        wanted = _BY_DOMAIN.get(expect)
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if wanted is not None and rtype not in wanted.resource_types:
            raise FhirMappingError(
                f"expected a resource for {expect.__name__} ({' or '.join(wanted.resource_types)}), "
                f"got {rtype}", path="resourceType")
    m = mapper_for_resource(resource)
    if expect is not None and not issubclass(m.domain_type, expect):
        raise FhirMappingError(
            f"expected a resource for {expect.__name__}, got {resource.get('resourceType')}",
            path="resourceType")
    return m.read(resource)


def _ordered(out: Resource, fresh: Resource) -> Resource:
    """resourceType and id first, then the rest in the order they came: stable JSON to diff."""
    head = {k: out[k] for k in ("resourceType", "id", "meta") if k in out}
    return {**head, **{k: v for k, v in out.items() if k not in head}}


def registered_resource_types() -> list[str]:
    _load_all()
    return sorted(_BY_RESOURCE)
