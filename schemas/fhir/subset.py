#!/usr/bin/env python3
"""Cuts HL7's FHIR JSON Schema (`fhir.schema.json`, several MB) down to the resources intake
reads and every definition they reach, so that the service validates exactly those resources
against HL7's own definitions.

    python3 schemas/fhir/subset.py path/to/fhir.schema.json > schemas/fhir/r4.schema.json

The definitions are copied as HL7 publishes them. Two things change, both written out below:
`ResourceList` (HL7: a `oneOf` over every resource type, which reports only "matches none")
dispatches on `resourceType` instead: the resources intake reads are checked against their
definitions, any other FHIR resource type (a Patient in a transaction, say) is accepted as an
object of a known type and never read; the `$schema` becomes draft-07 for `if`/`then`; and the
patterns in `REPAIRED` (HL7's mistakes, which a strict regular-expression engine refuses to
compile) are replaced by what they evidently mean.
"""

import json
import sys

# What intake reads. A Bundle brings the rest; SubscriptionStatus and MessageHeader only frame a
# notification or a message and are not read, but are validated when the schema defines them.
READ = [
    "AdverseEvent",
    "Bundle",
    "Practitioner",
    "PractitionerRole",
    "CareTeam",
    "Location",
    "Organization",
]

# R5's decimal pattern carries a stray "}" after the exponent's `{1,9}` (R4's has none); the
# repair drops it.
REPAIRED = {
    r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,17})?([eE][+-]?[0-9]{1,9}})?$":
    r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,17})?([eE][+-]?[0-9]{1,9})?$",
}


def repair(node):
    if isinstance(node, dict):
        return {
            key: REPAIRED.get(value, value) if key == "pattern" and isinstance(value, str)
            else repair(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [repair(value) for value in node]
    return node


def refs(node, out):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            out.add(ref[len("#/definitions/"):])
        for value in node.values():
            refs(value, out)
    elif isinstance(node, list):
        for value in node:
            refs(value, out)


def main(path):
    with open(path, encoding="utf-8") as f:
        full = json.load(f)
    definitions = full["definitions"]
    every_type = sorted(full["discriminator"]["mapping"])
    keep, todo = set(), [t for t in READ if t in definitions]
    while todo:
        name = todo.pop()
        if name in keep or name == "ResourceList":
            continue
        keep.add(name)
        found = set()
        refs(definitions[name], found)
        todo.extend(found - keep)
    read = [t for t in READ if t in definitions]
    subset = {name: repair(definitions[name]) for name in sorted(keep)}
    subset["ResourceList"] = {
        "description": "Dispatches on resourceType (peer-outreach's change to HL7's oneOf): "
        "the resource types intake reads are checked against their definitions; any other "
        "FHIR resource type is accepted unread.",
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"enum": every_type}},
        "allOf": [
            {
                "if": {"properties": {"resourceType": {"const": name}}},
                "then": {"$ref": f"#/definitions/{name}"},
            }
            for name in read
        ],
    }
    out = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "id": full.get("id"),
        "description": "A subset of HL7's " + str(full.get("id")) + " (fhir.schema.json) "
        "restricted to " + ", ".join(read) + " and the definitions they use; made by "
        "schemas/fhir/subset.py. See schemas/fhir/README.md.",
        "definitions": subset,
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=False, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
