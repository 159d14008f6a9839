"""Backstage's software catalog as a discovery source: entities in, the graph payload out.

Platform teams already declare who depends on whom in Backstage; this module turns those
declarations into the same `DependencyGraphIn` every other way in submits (source
`backstage`), plus a report of what it could not use. Pure: text and parsed entities in,
payload and report out; fetching them (the catalog API, files) is `telemetry.backstage_sources`.

Mapping (entity descriptor format, apiVersion backstage.io/v1alpha1):

- `Component` and `Resource` entities are services. The id is the annotation
  `slo-engine.io/service-id` when present, else `metadata.name`. `spec.owner` is the team
  (kind and namespace stripped: `group:default/payments` → `payments`). `spec.type`,
  `spec.lifecycle`, `spec.system` and the entity ref are kept in the service's metadata under
  `backstage`; the ref is how the entity page's plugin finds the service again.
  A Resource's `spec.type` gives the node type (database → datastore, queue/topic → queue,
  cache → cache); `slo-engine.io/service-type` sets it explicitly.
- `spec.dependsOn` (and the inverse `spec.dependencyOf`) are edges, hard and sync unless the
  depending entity's annotations say otherwise. A Component consuming an API
  (`spec.consumesApis`) depends on every Component providing it (`spec.providesApis`); an
  `asyncapi` API makes that edge async.
- Edge annotations, on the depending entity: `slo-engine.io/dependency-criticality`
  (hard | soft | degraded) and `slo-engine.io/communication-mode` (sync | async). A bare value
  applies to all its edges; `ref=value` pairs, comma-separated, to the edges to (or through)
  those entities: `resource:orders-queue=async, api:payments=soft`.
- Entity refs follow Backstage: `[kind:][namespace/]name`, kind and namespace compared case-
  insensitively, the namespace defaulting to the referring entity's (itself `default` unless
  set). A kindless `dependsOn` ref is resolved among Components and Resources; a kindless
  `consumesApis`/`providesApis` ref is an API, a kindless owner a Group.
- Organisational kinds (Group, User, System, Domain, Location, Template) carry no runtime
  dependency and are counted, not reported; any other kind is reported, as are refs to
  entities that are not in the catalog and documents that are not entities. None is fatal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import yaml
from pydantic import TypeAdapter, ValidationError

from store.graph_payload import DependencyGraphIn, NodeIn, ServiceType
from store.service_id_rule import ServiceId
from store.service_lookup import BACKSTAGE_METADATA_KEY

DISCOVERY_SOURCE = "backstage"
DEFAULT_NAMESPACE = "default"

ANNOTATION_SERVICE_ID = "slo-engine.io/service-id"
ANNOTATION_SERVICE_TYPE = "slo-engine.io/service-type"
ANNOTATION_CRITICALITY = "slo-engine.io/dependency-criticality"
ANNOTATION_COMMUNICATION_MODE = "slo-engine.io/communication-mode"

#: Kinds whose entities are services of the graph; APIs connect consumers to providers.
NODE_KINDS = ("component", "resource")
API_KIND = "api"
#: Backstage's organisational and tooling kinds: nothing in them is a runtime dependency.
ORGANISATIONAL_KINDS = frozenset({"group", "user", "system", "domain", "location", "template"})

#: A Resource's `spec.type` (lower case) → the graph's node type.
RESOURCE_SERVICE_TYPES: Mapping[str, str] = {
    **dict.fromkeys(("database", "datastore", "db", "storage", "bucket", "s3-bucket"),
                    "datastore"),
    **dict.fromkeys(("queue", "topic", "message-queue", "kafka-topic", "stream", "event-bus"),
                    "queue"),
    **dict.fromkeys(("cache", "redis", "memcached"), "cache"),
}  # fmt: skip
#: An API's `spec.type` → the protocol of the edges through it.
API_PROTOCOLS: Mapping[str, str] = {"openapi": "http", "graphql": "http", "grpc": "grpc"}
#: API types whose consumers receive messages instead of calling the provider.
ASYNC_API_TYPES = frozenset({"asyncapi"})

EDGE_VALUES: Mapping[str, tuple[str, frozenset[str]]] = {
    ANNOTATION_CRITICALITY: ("criticality", frozenset({"hard", "soft", "degraded"})),
    ANNOTATION_COMMUNICATION_MODE: ("communication_mode", frozenset({"sync", "async"})),
}

#: Backstage's rules for names and kinds (at most 63 characters); the entity route uses them.
NAME_PATTERN = r"^[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*$"
KIND_PATTERN = r"^[A-Za-z][A-Za-z0-9]*$"
MAX_NAME_LENGTH = 63
_NAME = re.compile(NAME_PATTERN)
_DOCUMENT_START = re.compile(r"^---(?=[ \t]|$)", re.MULTILINE)
_SERVICE_ID = TypeAdapter(ServiceId)
_SERVICE_TYPES = frozenset(get_args(ServiceType))

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class EntityRef:
    """A full entity reference; `str()` is Backstage's `stringifyEntityRef`."""

    kind: str  # lower case
    namespace: str  # lower case
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """What refs are compared by (Backstage compares them case-insensitively)."""
        return str(self).lower()


def entity_ref(kind: str, namespace: str, name: str) -> EntityRef:
    return EntityRef(kind.lower(), namespace.lower(), name)


def split_entity_ref(text: str) -> tuple[str | None, str | None, str]:
    """`[kind:][namespace/]name` → (kind, namespace, name) as written; ValueError if malformed."""
    kind: str | None = None
    rest = text.strip()
    colon, slash = rest.find(":"), rest.find("/")
    if colon != -1 and (slash == -1 or colon < slash):
        kind, rest = rest[:colon], rest[colon + 1 :]
    namespace: str | None = None
    if "/" in rest:
        namespace, rest = rest.split("/", 1)
    if kind == "" or namespace == "" or not rest or ":" in rest or "/" in rest:
        raise ValueError(f"'{text}' is not an entity reference ([kind:][namespace/]name)")
    return kind, namespace, rest


@dataclass(frozen=True)
class CatalogDocument:
    """One parsed document (a YAML document, or an item of the catalog API's answer)."""

    origin: str  # where it came from, as a person finds it: "catalog-info.yaml, document 2 …"
    body: Any


@dataclass(frozen=True)
class CatalogIssue:
    severity: Severity
    code: str
    message: str
    origin: str | None = None
    entity: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "origin": self.origin, "entity": self.entity}  # fmt: skip


@dataclass
class CatalogReport:
    """What an import read, what it made of it, and everything it could not use."""

    documents: int = 0
    entities: Counter[str] = field(default_factory=Counter)  # usable entities, by kind
    ignored: Counter[str] = field(default_factory=Counter)  # organisational kinds, by kind
    services: int = 0
    edges: int = 0
    issues: list[CatalogIssue] = field(default_factory=list)

    def add(self, severity: Severity, code: str, message: str, *, origin: str | None = None,
            entity: str | None = None) -> None:  # fmt: skip
        self.issues.append(CatalogIssue(severity, code, message, origin, entity))

    def count(self, severity: Severity) -> int:
        return sum(1 for issue in self.issues if issue.severity == severity)

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "entities": dict(sorted(self.entities.items())),
            "ignored": dict(sorted(self.ignored.items())),
            "services": self.services,
            "edges": self.edges,
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "issues": [issue.as_dict() for issue in self.issues],
        }


@dataclass(frozen=True)
class BackstageGraph:
    payload: DependencyGraphIn
    report: CatalogReport


def parse_catalog_yaml(text: str, name: str) -> tuple[list[CatalogDocument], list[CatalogIssue]]:
    """The documents of a (multi-document) YAML file. Each document is parsed on its own, so
    one with broken YAML is reported — with its number and line — and the others still count."""
    documents: list[CatalogDocument] = []
    issues: list[CatalogIssue] = []
    starts = [0] + [m.start() for m in _DOCUMENT_START.finditer(text) if m.start() > 0]
    number = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end]
        if i == 0 and not chunk.startswith("---") and not _has_content(chunk):
            continue  # comments or nothing before the first `---`: not a document
        number += 1
        line = text.count("\n", 0, start) + 1
        origin = f"{name}, document {number} (line {line})"
        try:
            body = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            # Where the broken construct began (a chunk's end is the next document's `---`).
            context = getattr(exc, "context", None)
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            where = f" at line {line + mark.line}" if mark is not None else ""
            where += f" ({context})" if context else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            issues.append(CatalogIssue("error", "malformed_document",
                                       f"not valid YAML{where}: {problem}", origin))  # fmt: skip
            continue
        if body is not None:  # an empty document (a trailing `---`) is nothing
            documents.append(CatalogDocument(origin, body))
    return documents, issues


def _has_content(chunk: str) -> bool:
    return any(s and not s.startswith("#") for s in (ln.strip() for ln in chunk.splitlines()))


@dataclass(frozen=True)
class _Entity:
    ref: EntityRef
    origin: str
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class _Node:
    entity: _Entity
    service_id: str


@dataclass(frozen=True)
class _Dependency:
    source: _Node
    target: _Node
    through: _Entity | None = None  # the API an edge goes through


def catalog_graph(
    documents: Iterable[CatalogDocument],
    issues: Iterable[CatalogIssue] = (),
    *,
    observed_at: datetime | None = None,
) -> BackstageGraph:
    """The graph payload the catalog declares, and the report of what could not be used.
    `issues` are those found while reading (unreadable files, broken YAML)."""
    report = CatalogReport(issues=list(issues))
    entities = _entities(documents, report)
    nodes = _nodes(entities, report)
    apis = {key: e for key, e in entities.items() if e.ref.kind == API_KIND}
    dependencies = _dependencies(entities, nodes, apis, report)
    edges = _edges(dependencies, report)
    payload = DependencyGraphIn.model_validate({
        "source": DISCOVERY_SOURCE,
        "timestamp": observed_at,
        "nodes": [node for _, node in nodes.values()],
        "edges": edges,
    })  # fmt: skip
    report.services, report.edges = len(payload.nodes), len(payload.edges)
    return BackstageGraph(payload, report)


def _entities(documents: Iterable[CatalogDocument], report: CatalogReport) -> dict[str, _Entity]:
    """Well-formed entities of the kinds that matter, by ref key (the first of duplicates)."""
    found: dict[str, _Entity] = {}
    for document in documents:
        report.documents += 1
        entity = _entity(document, report)
        if entity is None:
            continue
        kind = entity.ref.kind
        if kind in ORGANISATIONAL_KINDS:
            report.ignored[kind] += 1
            continue
        if kind not in (*NODE_KINDS, API_KIND):
            report.add("warning", "unknown_kind",
                       f"kind '{kind}' is not one the engine maps (Component, Resource, API): "
                       "ignored", origin=document.origin, entity=str(entity.ref))  # fmt: skip
            continue
        if entity.ref.key in found:
            report.add("warning", "duplicate_entity",
                       f"{entity.ref} is declared again (first in {found[entity.ref.key].origin})"
                       ": this one is ignored", origin=document.origin,
                       entity=str(entity.ref))  # fmt: skip
            continue
        found[entity.ref.key] = entity
        report.entities[kind] += 1
    return found


def _entity(document: CatalogDocument, report: CatalogReport) -> _Entity | None:
    body, origin = document.body, document.origin

    def malformed(message: str) -> None:
        report.add("error", "malformed_document", message, origin=origin)

    if not isinstance(body, Mapping):
        malformed(f"not an entity: a {type(body).__name__}, not a mapping")
        return None
    kind = body.get("kind")
    if not isinstance(kind, str) or not re.match(KIND_PATTERN, kind):
        malformed("missing `kind`" if kind is None else f"`kind` {kind!r} is not a kind")
        return None
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("name") is None:
        malformed("missing `metadata.name`")
        return None
    name, namespace = metadata.get("name"), metadata.get("namespace", DEFAULT_NAMESPACE)
    for label, value in (("metadata.name", name), ("metadata.namespace", namespace)):
        if not (isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and _NAME.match(value)):
            malformed(f"`{label}` {value!r} is not a Backstage name (letters and digits "
                      f"separated by '-', '_' or '.', at most {MAX_NAME_LENGTH})")  # fmt: skip
            return None
    assert isinstance(name, str) and isinstance(namespace, str)
    ref = entity_ref(kind, namespace, name)
    spec = body.get("spec", {})
    if not isinstance(spec, Mapping):
        malformed(f"`spec` of {ref} is a {type(spec).__name__}, not a mapping")
        return None
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        report.add("warning", "malformed_annotations", "`metadata.annotations` is not a "
                   "mapping: ignored", origin=origin, entity=str(ref))  # fmt: skip
        annotations = {}
    return _Entity(ref, origin, spec,
                   {str(k): v for k, v in annotations.items() if isinstance(v, str)})  # fmt: skip


def _nodes(
    entities: Mapping[str, _Entity], report: CatalogReport
) -> dict[str, tuple[_Node, dict[str, Any]]]:
    """Services by entity ref key: the node and its payload entry."""
    nodes: dict[str, tuple[_Node, dict[str, Any]]] = {}
    claimed: dict[str, EntityRef] = {}
    for key, entity in entities.items():
        if entity.ref.kind not in NODE_KINDS:
            continue
        ref = str(entity.ref)
        service_id = entity.annotations.get(ANNOTATION_SERVICE_ID, entity.ref.name).strip()
        try:
            _SERVICE_ID.validate_python(service_id)
        except ValidationError:
            report.add("error", "invalid_service_id",
                       f"service id '{service_id}' breaks the service id rule (a letter or digit, "
                       "then letters, digits, '.', '_', ':' or '-'): entity skipped",
                       origin=entity.origin, entity=ref)  # fmt: skip
            continue
        if service_id in claimed:
            report.add("error", "duplicate_service_id",
                       f"service id '{service_id}' is already {claimed[service_id]}'s: entity "
                       f"skipped (set {ANNOTATION_SERVICE_ID} on one of them)",
                       origin=entity.origin, entity=ref)  # fmt: skip
            continue
        entry = {"service_id": service_id, "metadata": _node_metadata(entity, report)}
        try:
            NodeIn.model_validate(entry)
        except ValidationError as exc:
            report.add("error", "invalid_entity", f"cannot be stored: {exc.errors()[0]['msg']}",
                       origin=entity.origin, entity=ref)  # fmt: skip
            continue
        claimed[service_id] = entity.ref
        nodes[key] = (_Node(entity, service_id), entry)
    return nodes


def _node_metadata(entity: _Entity, report: CatalogReport) -> dict[str, Any]:
    spec, ref = entity.spec, entity.ref
    facts: dict[str, Any] = {"entity_ref": str(ref)}
    for key in ("type", "lifecycle"):
        if isinstance(spec.get(key), str):
            facts[key] = spec[key]
    metadata: dict[str, Any] = {BACKSTAGE_METADATA_KEY: facts}
    for key in ("owner", "system"):  # a Group (or User) and a System: their names
        value = spec.get(key)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not an entity reference")
            name = split_entity_ref(value)[2]
        except ValueError as exc:
            report.add("warning", "invalid_reference", f"spec.{key}: {exc}",
                       origin=entity.origin, entity=str(ref))  # fmt: skip
            continue
        if key == "owner":
            metadata["team"] = name
        else:
            facts["system"] = name
    declared = entity.annotations.get(ANNOTATION_SERVICE_TYPE)
    backstage_type = spec["type"].lower() if isinstance(spec.get("type"), str) else ""
    if declared is not None and declared not in _SERVICE_TYPES:
        report.add("warning", "invalid_annotation",
                   f"{ANNOTATION_SERVICE_TYPE} '{declared}' is not one of "
                   f"{', '.join(sorted(_SERVICE_TYPES))}: ignored",
                   origin=entity.origin, entity=str(ref))  # fmt: skip
        declared = None
    service_type = declared or (
        RESOURCE_SERVICE_TYPES.get(backstage_type) if ref.kind == "resource"
        else backstage_type if backstage_type in _SERVICE_TYPES else None
    )  # fmt: skip
    if service_type:
        metadata["service_type"] = service_type
    return metadata


def _refs(entity: _Entity, key: str, report: CatalogReport) -> list[tuple[str | None, str, str]]:
    """The refs of `spec.<key>` as (kind or None, namespace, name), defaults applied."""
    values = entity.spec.get(key)
    if values is None:
        return []
    if not isinstance(values, list):
        report.add("error", "malformed_field", f"spec.{key} is not a list of entity refs: "
                   "ignored", origin=entity.origin, entity=str(entity.ref))  # fmt: skip
        return []
    refs = []
    for value in values:
        try:
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not an entity reference")
            kind, namespace, name = split_entity_ref(value)
        except ValueError as exc:
            report.add("warning", "invalid_reference", f"spec.{key}: {exc}",
                       origin=entity.origin, entity=str(entity.ref))  # fmt: skip
            continue
        namespace = namespace or entity.ref.namespace
        refs.append((kind.lower() if kind else None, namespace.lower(), name))
    return refs


def _dependencies(
    entities: Mapping[str, _Entity],
    nodes: Mapping[str, tuple[_Node, dict[str, Any]]],
    apis: Mapping[str, _Entity],
    report: CatalogReport,
) -> list[_Dependency]:
    providers: dict[str, list[_Node]] = {}
    for node, _ in nodes.values():
        for kind, namespace, name in _refs(node.entity, "providesApis", report):
            provided = EntityRef(kind or API_KIND, namespace, name)
            providers.setdefault(provided.key, []).append(node)

    def missing(entity: _Entity, field_name: str, target: str) -> None:
        why = ("was not imported (see its issue)" if target.lower() in entities
               else "is not in the catalog")  # fmt: skip
        report.add("warning", "missing_entity", f"spec.{field_name} refers to {target}, which "
                   f"{why}: no edge", origin=entity.origin, entity=str(entity.ref))  # fmt: skip

    def node_of(entity: _Entity, field_name: str, ref: tuple[str | None, str, str]) -> _Node | None:
        kind, namespace, name = ref
        if kind is not None and kind not in NODE_KINDS:
            report.add("warning", "unsupported_reference",
                       f"spec.{field_name} refers to {kind}:{namespace}/{name}; only Components "
                       "and Resources are dependencies: no edge",
                       origin=entity.origin, entity=str(entity.ref))  # fmt: skip
            return None
        candidates = [EntityRef(k, namespace, name) for k in ((kind,) if kind else NODE_KINDS)]
        declared = [c for c in candidates if c.key in entities]
        if len(declared) > 1:
            report.add("warning", "ambiguous_reference",
                       f"spec.{field_name} '{namespace}/{name}' names both a Component and a "
                       f"Resource: took {declared[0]} (write the kind to choose)",
                       origin=entity.origin, entity=str(entity.ref))  # fmt: skip
        if not declared or declared[0].key not in nodes:
            written = f"{kind}:{namespace}/{name}" if kind else f"{namespace}/{name}"
            missing(entity, field_name, str(declared[0]) if declared else written)
            return None
        return nodes[declared[0].key][0]

    found: list[_Dependency] = []
    for node, _ in nodes.values():
        entity = node.entity
        for ref in _refs(entity, "dependsOn", report):
            target = node_of(entity, "dependsOn", ref)
            if target is not None:
                found.append(_Dependency(node, target))
        for ref in _refs(entity, "dependencyOf", report):
            source = node_of(entity, "dependencyOf", ref)
            if source is not None:
                found.append(_Dependency(source, node))
        for kind, namespace, name in _refs(entity, "consumesApis", report):
            api_ref = EntityRef(kind or API_KIND, namespace, name)
            if api_ref.kind != API_KIND:
                report.add("warning", "unsupported_reference",
                           f"spec.consumesApis refers to {api_ref}, not an API: no edge",
                           origin=entity.origin, entity=str(entity.ref))  # fmt: skip
                continue
            api = apis.get(api_ref.key)
            serving = providers.get(api_ref.key, [])
            if not serving:
                if api is None:
                    missing(entity, "consumesApis", str(api_ref))
                else:
                    report.add("warning", "api_without_provider",
                               f"{api_ref} is consumed but no Component provides it "
                               "(spec.providesApis): no edge",
                               origin=entity.origin, entity=str(entity.ref))  # fmt: skip
                continue
            through = api or _Entity(api_ref, entity.origin, {}, {})
            found.extend(_Dependency(node, provider, through) for provider in serving)
    return found


def _edges(dependencies: Sequence[_Dependency], report: CatalogReport) -> list[dict[str, Any]]:
    """One payload edge per (source, target): the first declaration of a pair wins."""
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    overrides: dict[str, dict[str, _Override]] = {}
    for dependency in dependencies:
        source, target = dependency.source, dependency.target
        if source.service_id == target.service_id:
            report.add("info", "self_dependency",
                       f"{source.entity.ref} depends on itself"
                       + (f" through {dependency.through.ref}" if dependency.through else "")
                       + ": no edge", origin=source.entity.origin,
                       entity=str(source.entity.ref))  # fmt: skip
            continue
        if (source.service_id, target.service_id) in edges:
            continue
        attributes: dict[str, Any] = {"communication_mode": "sync", "criticality": "hard"}
        if dependency.through is not None:
            api_type = str(dependency.through.spec.get("type", "")).lower()
            if api_type in ASYNC_API_TYPES:
                attributes["communication_mode"] = "async"
            if api_type in API_PROTOCOLS:
                attributes["protocol"] = API_PROTOCOLS[api_type]
        key = source.entity.ref.key
        if key not in overrides:
            overrides[key] = {a: _override(source.entity, a, report) for a in EDGE_VALUES}
        targets = [dependency.through.ref] if dependency.through else []
        targets.append(target.entity.ref)
        for annotation, override in overrides[key].items():
            value = override.value_for(targets)
            if value is not None:
                attributes[EDGE_VALUES[annotation][0]] = value
        edges[(source.service_id, target.service_id)] = {
            "source": source.service_id, "target": target.service_id, "attributes": attributes,
        }  # fmt: skip
    for by_annotation in overrides.values():
        for annotation, override in by_annotation.items():
            for pattern in override.unused():
                report.add("warning", "annotation_unmatched",
                           f"{annotation} names '{pattern}', which is none of this entity's "
                           "dependencies: ignored", origin=override.origin,
                           entity=override.entity)  # fmt: skip
    return list(edges.values())


@dataclass
class _Override:
    """An edge annotation of one entity: a default and values per target ref."""

    origin: str
    entity: str
    default: str | None = None
    by_target: list[tuple[tuple[str | None, str, str], str, str]] = field(default_factory=list)
    used: set[int] = field(default_factory=set)

    def value_for(self, targets: Sequence[EntityRef]) -> str | None:
        for target in targets:  # the API first, then the provider
            for i, ((kind, namespace, name), _, value) in enumerate(self.by_target):
                if (kind in (None, target.kind) and namespace == target.namespace
                        and name.lower() == target.name.lower()):  # fmt: skip
                    self.used.add(i)
                    return value
        return self.default

    def unused(self) -> list[str]:
        return [text for i, (_, text, _) in enumerate(self.by_target) if i not in self.used]


def _override(entity: _Entity, annotation: str, report: CatalogReport) -> _Override:
    override = _Override(entity.origin, str(entity.ref))
    raw = entity.annotations.get(annotation)
    if raw is None:
        return override
    allowed = EDGE_VALUES[annotation][1]
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        target, _, value = part.rpartition("=")
        value = value.strip().lower()
        if value not in allowed:
            report.add("warning", "invalid_annotation",
                       f"{annotation}: '{part}' is not {' | '.join(sorted(allowed))} "
                       "(or ref=value): ignored", origin=entity.origin,
                       entity=str(entity.ref))  # fmt: skip
            continue
        if not target:
            override.default = value
            continue
        try:
            kind, namespace, name = split_entity_ref(target)
        except ValueError as exc:
            report.add("warning", "invalid_annotation", f"{annotation}: {exc}",
                       origin=entity.origin, entity=str(entity.ref))  # fmt: skip
            continue
        ns = (namespace or entity.ref.namespace).lower()
        override.by_target.append(((kind.lower() if kind else None, ns, name), target.strip(),
                                   value))  # fmt: skip
    return override
