"""``iotgw rules list|apply FILE|delete``: alert rules as files, kept in git.

``apply`` makes the cloud's rules match the file, identified by ``name``: rules missing in the
cloud are created, rules that differ are replaced, rules not in the file are deleted
(``--keep-others`` leaves them); a second ``apply`` of the same file changes nothing.
``--dry-run`` prints the plan only. The file (TOML) holds one ``[[rules]]`` table per rule with
the fields of ``POST /v1/rules``::

    [[rules]]
    name = "hot pump"
    kind = "threshold"
    op = "above"
    limit = 80.0
    severity = "critical"
    scope = { sensor = "temperature", device = "pump-*" }

Whether a rule differs is decided against the cloud's own defaults (read from its OpenAPI
document), so a file that leaves a field out matches a rule that has that field's default.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotgw.ops.client import Client, OpsError, add_connection_args, command, show

STORED_FIELDS = frozenset({"id", "created_ms", "updated_ms"})
PLAN_COLUMNS = ("action", "name", "id", "changes")
RULE_COLUMNS = ("id", "name", "kind", "severity", "enabled", "scope")


@dataclass(frozen=True)
class Step:
    """One step of a plan: ``create``, ``update``, ``delete`` or ``unchanged``."""

    action: str
    name: str
    rule_id: str | None
    spec: dict[str, Any] | None
    changes: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        return {"action": self.action, "name": self.name, "id": self.rule_id,
                "changes": ", ".join(self.changes)}


def register(subparsers: Any) -> None:
    """Add the ``rules`` group to the ``iotgw`` command."""
    p = subparsers.add_parser("rules", help="alert rules as files: list, apply, delete",
                              description=__doc__.split("\n\n")[0])
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="rules_command", metavar="ACTION")
    ls = sub.add_parser("list", help="the cloud's rules")
    add_connection_args(ls)
    ls.set_defaults(func=command(cmd_list))
    ap = sub.add_parser("apply", help="make the cloud's rules match FILE (by name)")
    add_connection_args(ap)
    ap.add_argument("file", type=Path, metavar="FILE")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    ap.add_argument("--keep-others", action="store_true",
                    help="do not delete rules that are not in FILE")
    ap.set_defaults(func=command(cmd_apply))
    rm = sub.add_parser("delete", help="delete rules by name or id")
    add_connection_args(rm)
    rm.add_argument("rules", nargs="+", metavar="NAME_OR_ID")
    rm.set_defaults(func=command(cmd_delete))


def read_rules(path: Path) -> list[dict[str, Any]]:
    """The ``[[rules]]`` of ``path``; OpsError (exit 2) if unreadable, unnamed or repeated."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise OpsError(f"{path}: cannot read: {exc.strerror or exc}", 2) from None
    except tomllib.TOMLDecodeError as exc:
        raise OpsError(f"{path}: not valid TOML: {exc}", 2) from None
    unknown = set(data) - {"rules"}
    if unknown:
        raise OpsError(f"{path}: unknown top-level keys {sorted(unknown)}; use [[rules]]", 2)
    rules = data.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise OpsError(f"{path}: rules must be an array of tables [[rules]]", 2)
    seen: set[str] = set()
    for i, rule in enumerate(rules, 1):
        name = rule.get("name")
        if not isinstance(name, str) or not name:
            raise OpsError(f"{path}: rules[{i}]: every rule needs a name", 2)
        if name in seen:
            raise OpsError(f"{path}: rules[{i}]: the name {name!r} is used twice", 2)
        seen.add(name)
    return rules


def kind_defaults(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per rule kind, the defaults the cloud fills in (from its OpenAPI components)."""
    comps = openapi.get("components", {}).get("schemas", {})
    out: dict[str, dict[str, Any]] = {}
    for schema in comps.values():
        props = schema.get("properties", {})
        kind = props.get("kind", {})
        name = kind.get("const") or kind.get("default")
        if isinstance(name, str) and "id" not in props:
            out[name] = _defaults(schema, comps)
    return out


def _defaults(schema: dict[str, Any], comps: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prop, ps in schema.get("properties", {}).items():
        if "default" in ps:
            out[prop] = ps["default"]
        ref = ps.get("$ref") or next((a["$ref"] for a in ps.get("allOf", []) if "$ref" in a),
                                     None)
        if ref is not None:
            nested = _defaults(comps.get(ref.rsplit("/", 1)[-1], {}), comps)
            given = out.get(prop)
            out[prop] = {**nested, **(given if isinstance(given, dict) else {})}
    return out


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def differences(wanted: dict[str, Any], stored: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys whose stored value is not the wanted one (keys unknown to ``wanted`` are skipped).

    >>> differences({"limit": 80, "scope": {"sensor": "t"}}, {"limit": 80.0, "scope": {
    ...     "sensor": "h", "site": "*"}, "id": "r1"})
    ['scope.sensor']
    """
    out = []
    for key in sorted(set(wanted) | set(stored)):
        if key in STORED_FIELDS or key not in wanted:
            continue
        w, s = wanted[key], stored.get(key)
        if isinstance(w, dict) and isinstance(s, dict):
            out.extend(differences(w, s, f"{prefix}{key}."))
        elif w != s:
            out.append(prefix + key)
    return out


def plan(desired: list[dict[str, Any]], current: list[dict[str, Any]],
         defaults: dict[str, dict[str, Any]], keep_others: bool = False) -> list[Step]:
    """The steps that make ``current`` (the cloud's rules) match ``desired`` (the file)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in current:
        by_name.setdefault(rule["name"], []).append(rule)
    steps = []
    for spec in desired:
        found = by_name.get(spec["name"], [])
        if len(found) > 1:
            ids = ", ".join(r["id"] for r in found)
            raise OpsError(f"the cloud has {len(found)} rules named {spec['name']!r} ({ids}); "
                           "delete the extra ones by id first")
        if not found:
            steps.append(Step("create", spec["name"], None, spec))
            continue
        wanted = _merge(defaults.get(str(spec.get("kind", "")), {}), spec)
        changed = differences(wanted, found[0])
        action = "update" if changed or found[0].get("kind") != spec.get("kind") else "unchanged"
        steps.append(Step(action, spec["name"], found[0]["id"], spec, tuple(changed)))
    names = {spec["name"] for spec in desired}
    if not keep_others:
        steps += [Step("delete", r["name"], r["id"], None) for r in current
                  if r["name"] not in names]
    return steps


def cmd_list(args: argparse.Namespace, client: Client) -> int:
    rules = client.call("GET", "/v1/rules")
    if args.output == "json":
        show(args, rules, ())
        return 0
    rows = [{**r, "scope": " ".join(f"{k}={v}" for k, v in (r.get("scope") or {}).items()
                                    if v not in ("*", None, [], {})) or "*"} for r in rules]
    show(args, rows, RULE_COLUMNS)
    return 0


def cmd_apply(args: argparse.Namespace, client: Client) -> int:
    desired = read_rules(args.file)
    current = client.call("GET", "/v1/rules")
    steps = plan(desired, current, kind_defaults(client.call("GET", "/openapi.json")),
                 args.keep_others)
    if not args.dry_run:
        for step in steps:
            if step.action == "create":
                created = client.call("POST", "/v1/rules", body=step.spec)
                steps[steps.index(step)] = Step("create", step.name, created["id"], step.spec)
            elif step.action == "update":
                client.call("PUT", f"/v1/rules/{step.rule_id}", body=step.spec)
            elif step.action == "delete":
                client.call("DELETE", f"/v1/rules/{step.rule_id}")
    counts = {a: sum(s.action == a for s in steps)
              for a in ("create", "update", "delete", "unchanged")}
    if args.output == "json":
        show(args, {"dry_run": args.dry_run, "steps": [s.row() for s in steps], **counts}, ())
        return 0
    show(args, [s.row() for s in steps if s.action != "unchanged"] or [], PLAN_COLUMNS)
    verb = "would" if args.dry_run else "did"
    print(f"{verb} create {counts['create']}, update {counts['update']}, delete "
          f"{counts['delete']}; {counts['unchanged']} unchanged")
    return 0


def cmd_delete(args: argparse.Namespace, client: Client) -> int:
    rules = client.call("GET", "/v1/rules")
    for ref in args.rules:
        matches = [r for r in rules if r["name"] == ref] or [r for r in rules if r["id"] == ref]
        if not matches:
            raise OpsError(f"no rule named or with id {ref!r} (see `iotgw rules list`)")
        for rule in matches:
            client.call("DELETE", f"/v1/rules/{rule['id']}")
            print(f"deleted rule {rule['id']} ({rule['name']})")
    return 0
