"""Shows what scripts/demo's local catchers received: `pages FILE` (the paging webhook's JSON
events, one a line), `sms MAILDIR` (pages sent to the SMS gateway) and `sheet MAILDIR` (resource
sheets e-mailed to members)."""
import email
import email.policy
import json
import mailbox
import sys

what, where = sys.argv[1], sys.argv[2]


def messages(subject):
    try:
        box = mailbox.Maildir(where, factory=None, create=False)
    except Exception:
        return []
    found = []
    for key in box.keys():
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        if message["Subject"] == subject:
            found.append(message)
    return found


if what == "pages":
    try:
        events = [json.loads(line) for line in open(where, encoding="utf-8")]
    except FileNotFoundError:
        events = []
    for event in events[:1]:
        event["routing_key"] = "(the configured routing key)"
        print(json.dumps(event, indent=2))
    print("{} page(s) received: one per urgent case, deduplicated by case id.".format(len(events)))
elif what == "sms":
    found = messages("Urgent peer support case")
    for message in found[:1]:
        print("And by e-mail to the SMS gateway, To: {}\n  {}".format(
            message["X-RcptTo"], message.get_content().strip()))
elif what == "sheet":
    for message in messages("Peer support: places to turn to"):
        print("To: {}\nSubject: {}\n\n{}".format(
            message["X-RcptTo"], message["Subject"], message.get_content()))
