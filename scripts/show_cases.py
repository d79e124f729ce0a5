"""Prints the outreach cases the API lists (JSON on stdin) as a table."""
import json
import sys

cases = json.load(sys.stdin)["cases"]
row = "{:<10} {:<9} {:<17} {:<11} {:<26} {:<22} {:<8}"
print(row.format("status", "trigger", "report", "campus", "member", "discipline", "channel"))
for case in cases:
    member = case["member"]
    name = "{} {}".format(member["name"]["given"], member["name"]["family"])
    channel = member["contact"]["preferred_channel"] or "email"
    print(row.format(case["status"], case["trigger"], case["report"]["report_id"], case["campus"],
                     name, member["discipline"], channel))
print("\n{} cases. No clinical detail was kept: there is nowhere to keep it.".format(len(cases)))
