#!/usr/bin/env python3
"""Check the inbound event contract: schemas are valid draft 2020-12, examples validate,
bad instances are rejected, and the tolerant-reader and clinical-marking rules hold.

Usage: python3 schemas/check.py   (needs only `pip install "jsonschema>=4.18"`; exits non-zero on failure)
"""
import copy
import json
import re
import sys
from datetime import date, datetime
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
BASE = "https://peer-outreach.dev/schemas/"
CLINICAL = "Clinical detail: validated for shape only, dropped at intake, never stored."
DATA_SCHEMA = {
    "health.safety.incident.reported.v1": "incident-reported.v1.schema.json",
    "health.safety.ireport.filed.v1": "ireport-filed.v1.schema.json",
    "health.safety.incident.amended.v1": "incident-amended.v1.schema.json",
    "health.safety.incident.withdrawn.v1": "incident-withdrawn.v1.schema.json",
}
# Properties that are clinical wherever they appear ("name" depends on its parent).
CLINICAL_NAMES = {"occurred_at", "patient", "narrative", "event_description", "diagnosis",
                  "medications", "contributing_factors", "actions_taken", "room", "category",
                  "harm", "level", "description", "reason", "mrn", "date_of_birth", "dose", "route"}

failures = []
passed = 0


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def ok(msg):
    global passed
    passed += 1
    print("ok  ", msg)


# date-time without the optional rfc3339-validator package: stdlib parse, RFC 3339 shape.
formats = FormatChecker()
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@formats.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError("not an RFC 3339 date-time")
    datetime.fromisoformat(re.sub("[Zz]$", "+00:00", value.upper()))  # range check
    return True


@formats.checks("date", raises=ValueError)
def _date(value):
    return not isinstance(value, str) or bool(date.fromisoformat(value)) and len(value) == 10


schemas = {p.name: json.loads(p.read_text()) for p in sorted(HERE.glob("*.schema.json"))}
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())


def validator(name):
    return Draft202012Validator(schemas[name], registry=registry, format_checker=formats)


def errors(name, instance):
    return [e.message for e in validator(name).iter_errors(instance)]


def walk(node, path, clinical_above):
    """Every property has a description; clinical marking matches CLINICAL_NAMES;
    no additionalProperties: false anywhere."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            walk(item, f"{path}/{i}", clinical_above)
        return
    if not isinstance(node, dict):
        return
    if node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False:
        fail(f"{path}: closed object (tolerant reader contract)")
    clinical_here = clinical_above or CLINICAL in node.get("description", "")
    for key, value in node.items():
        if key in ("if", "not"):  # conditions, not property declarations
            continue
        if key == "properties":
            for prop, sub in value.items():
                desc = sub.get("description", "")
                if not desc:
                    fail(f"{path}/properties/{prop}: no description")
                expect = clinical_here or prop in CLINICAL_NAMES
                if (CLINICAL in desc) != expect:
                    fail(f"{path}/properties/{prop}: clinical marking is {CLINICAL in desc}, expected {expect}")
                walk(sub, f"{path}/properties/{prop}", expect)
        else:
            walk(value, f"{path}/{key}", clinical_here)


# 1. Schemas are valid, identified as agreed, and follow the contract rules.
for name, schema in schemas.items():
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as e:  # noqa: BLE001
        fail(f"{name}: invalid schema: {e}")
    if schema.get("$id") != BASE + name:
        fail(f"{name}: $id is {schema.get('$id')}")
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        fail(f"{name}: $schema is {schema.get('$schema')}")
    walk(schema, name, False)
if set(DATA_SCHEMA.values()) | {"common.v1.schema.json", "cloudevent-envelope.schema.json"} != set(schemas):
    fail(f"unexpected schema set: {sorted(schemas)}")

# 2. Every example validates (envelope and data); CloudEvent ids are unique.
examples = {p.name: json.loads(p.read_text()) for p in sorted((HERE / "examples").glob("*.json"))}
if len(examples) < 6:
    fail(f"expected at least 6 examples, found {len(examples)}")
seen_ids = set()
for name, event in examples.items():
    for msg in errors("cloudevent-envelope.schema.json", event):
        fail(f"{name}: envelope: {msg}")
    data_schema = DATA_SCHEMA.get(event.get("type"))
    if data_schema:
        for msg in errors(data_schema, event.get("data")):
            fail(f"{name}: data: {msg}")
    if (event.get("source"), event.get("id")) in seen_ids:
        fail(f"{name}: duplicate CloudEvent (source, id)")
    seen_ids.add((event.get("source"), event.get("id")))
    ok(f"{name} -> {data_schema}")

# A person keeps one staff id across all examples, and an id names one person.
people = {}
for name, event in examples.items():
    data = event.get("data", {})
    for m in data.get("involved_staff", []) + data.get("staff_added", []) + [data.get("reporter") or {}]:
        if m:
            people.setdefault(m["staff_id"], set()).add((m["name"]["given"], m["name"]["family"]))
persons = [p for names in people.values() for p in names]
if any(len(n) > 1 for n in people.values()) or len(persons) != len(set(persons)):
    fail(f"staff ids and people do not match one to one: {people}")
else:
    ok(f"{len(people)} staff ids, one per person")

# 3. Bad instances are rejected; unknown fields are accepted.
by_type = {e["type"]: e for e in examples.values()}


def data_of(event_type):
    return copy.deepcopy(by_type[event_type]["data"])


def expect(name, label, instance, valid):
    got = not errors(name, instance)
    if got != valid:
        fail(f"{name}: {label}: expected {'valid' if valid else 'invalid'}")
    else:
        ok(f"{name}: {label} -> {'accepted' if valid else 'rejected'}")


def mutate(data, fn):
    data = copy.deepcopy(data)
    fn(data)
    return data


def staff_list(d):
    return d.get("involved_staff") or d.get("staff_added")


for event_type, name in DATA_SCHEMA.items():
    base = data_of(event_type)
    expect(name, "missing report_id", mutate(base, lambda d: d.pop("report_id")), False)
    expect(name, "bad report_id", mutate(base, lambda d: d.update(report_id="-x y")), False)
    expect(name, "unknown fields", mutate(base, lambda d: d.update(x_vendor={"a": 1})), True)
    if staff_list(base):
        expect(name, "bad discipline",
               mutate(base, lambda d: staff_list(d)[0].update(discipline="surgeon")), False)
        expect(name, "empty contact", mutate(base, lambda d: staff_list(d)[0].update(contact={})), False)
        expect(name, "bad phone",
               mutate(base, lambda d: staff_list(d)[0]["contact"].update(phone="call me")), False)
        expect(name, "missing staff name",
               mutate(base, lambda d: staff_list(d)[0].pop("name")), False)
        expect(name, "unknown staff field",
               mutate(base, lambda d: staff_list(d)[0].update(pager="4417")), True)

reported, ireport, amended, withdrawn = DATA_SCHEMA.values()
expect(reported, "no involved staff",
       mutate(data_of("health.safety.incident.reported.v1"), lambda d: d.update(involved_staff=[])), False)
expect(reported, "bad harm level",
       mutate(data_of("health.safety.incident.reported.v1"), lambda d: d["harm"].update(level="catastrophic")), False)
expect(reported, "missing unit",
       mutate(data_of("health.safety.incident.reported.v1"), lambda d: d["location"].pop("unit")), False)
expect(reported, "bad date-time",
       mutate(data_of("health.safety.incident.reported.v1"), lambda d: d.update(reported_at="yesterday")), False)
expect(reported, "overlong narrative",
       mutate(data_of("health.safety.incident.reported.v1"), lambda d: d.update(narrative="x" * 20001)), False)
named = next(e["data"] for e in examples.values()
             if e["type"] == "health.safety.ireport.filed.v1" and not e["data"]["anonymous"])
anon = next(e["data"] for e in examples.values()
            if e["type"] == "health.safety.ireport.filed.v1" and e["data"]["anonymous"])
expect(ireport, "named without reporter", mutate(named, lambda d: d.pop("reporter")), False)
expect(ireport, "anonymous with reporter", mutate(anon, lambda d: d.update(reporter=named["reporter"])), False)
expect(ireport, "missing anonymous", mutate(anon, lambda d: d.pop("anonymous")), False)
expect(ireport, "no involved staff", mutate(anon, lambda d: d.update(involved_staff=[])), True)
expect(amended, "nothing amended",
       {"report_id": "INC-2026-004211", "amended_at": "2026-03-11T11:05:12Z"}, False)
expect(amended, "only staff_removed",
       {"report_id": "INC-2026-004211", "amended_at": "2026-03-11T11:05:12Z", "staff_removed": ["E20871"]}, True)
expect(amended, "bad staff_removed id",
       {"report_id": "INC-2026-004211", "amended_at": "2026-03-11T11:05:12Z", "staff_removed": ["E 1"]}, False)
expect(withdrawn, "missing withdrawn_at",
       mutate(data_of("health.safety.incident.withdrawn.v1"), lambda d: d.pop("withdrawn_at")), False)

envelope = "cloudevent-envelope.schema.json"
event = copy.deepcopy(next(iter(examples.values())))
expect(envelope, "missing specversion", mutate(event, lambda e: e.pop("specversion")), False)
expect(envelope, "specversion 0.3", mutate(event, lambda e: e.update(specversion="0.3")), False)
expect(envelope, "unknown type", mutate(event, lambda e: e.update(type="health.safety.other.v1")), False)
expect(envelope, "empty id", mutate(event, lambda e: e.update(id="")), False)
expect(envelope, "missing data", mutate(event, lambda e: e.pop("data")), False)
expect(envelope, "extension attribute", mutate(event, lambda e: e.update(partitionkey="INC-2026-004211")), True)

common = "common.v1.schema.json"
staff_ref = {"$ref": BASE + common + "#/$defs/staffMember"}
staff_validator = Draft202012Validator(staff_ref, registry=registry, format_checker=formats)
member = by_type["health.safety.incident.reported.v1"]["data"]["involved_staff"][0]
for label, inst, valid in [
    ("valid member", member, True),
    ("bad discipline", mutate(member, lambda m: m.update(discipline="surgeon")), False),
    ("empty contact", mutate(member, lambda m: m.update(contact={})), False),
    ("bad channel", mutate(member, lambda m: m.update(preferred_channel="pager")), False),
    ("bad email", mutate(member, lambda m: m["contact"].update(email="priya.raman")), False),
]:
    if (not list(staff_validator.iter_errors(inst))) != valid:
        fail(f"{common}#staffMember: {label}: expected {'valid' if valid else 'invalid'}")
    else:
        ok(f"{common}#staffMember: {label} -> {'accepted' if valid else 'rejected'}")

for name in schemas:
    if not any(f.startswith(name) for f in failures):
        ok(f"{name}: valid draft 2020-12, $id, descriptions, clinical marking, open objects")
print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
