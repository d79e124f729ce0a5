"""Prints GET /v1/cases/{id}/candidates as a program manager reads it: who fits, why, and who not."""
import json
import sys

ranking = json.load(sys.stdin)
print(f"case {ranking['case_id']}")
for c in ranking["candidates"]:
    print(f"  {c['score']:>4}  {c['staff_id']:<8} {c['given_name']} {c['family_name']}: {', '.join(c['reasons'])}")
for e in ranking["excluded"]:
    print(f"     -  {e['staff_id']:<8} {e['given_name']} {e['family_name']}: {e['explanation']}")
