"""Publishes incident reports with Python's confluent-kafka (an ordinary Kafka client, not ours)
and measures how long each takes to appear as outreach cases through the API.

    python3 scripts/latency.py --api http://127.0.0.1:8080 --topic demo.safety.incidents -n 20

Needs `pip install confluent-kafka`. Prints each latency and the median, p90 and max.
"""
import argparse
import copy
import json
import pathlib
import statistics
import time
import urllib.request
import uuid

from confluent_kafka import Producer

parser = argparse.ArgumentParser()
parser.add_argument("--api", default="http://127.0.0.1:8080")
parser.add_argument("--brokers", default="127.0.0.1:9092")
parser.add_argument("--topic", default="safety.incidents")
parser.add_argument("-n", type=int, default=20)
args = parser.parse_args()

example = json.loads(
    (pathlib.Path(__file__).parent.parent / "schemas/examples/01-incident-reported-medication-error.json").read_text()
)
producer = Producer({"bootstrap.servers": args.brokers, "acks": "all"})


def cases_of(report_id):
    url = f"{args.api}/v1/cases?limit=200"
    with urllib.request.urlopen(url) as response:
        cases = json.load(response)["cases"]
    return [c for c in cases if c["report"]["report_id"] == report_id]


latencies = []
for n in range(args.n):
    event = copy.deepcopy(example)
    run = uuid.uuid4().hex[:8]
    event["id"] = str(uuid.uuid4())
    event["data"]["report_id"] = f"LAT-{run}"
    for member in event["data"]["involved_staff"]:
        member["staff_id"] = f"{member['staff_id']}-{run}"
    expected = len(event["data"]["involved_staff"])
    started = time.monotonic()
    producer.produce(args.topic, key=event["data"]["report_id"], value=json.dumps(event),
                     headers={"content-type": "application/cloudevents+json"})
    producer.flush()
    acknowledged = (time.monotonic() - started) * 1000
    while len(cases_of(event["data"]["report_id"])) < expected:
        if time.monotonic() - started > 10:
            raise SystemExit(f"report {n} did not become cases within 10 s")
        time.sleep(0.01)
    latencies.append((time.monotonic() - started) * 1000)
    print(f"report {n:3}: acknowledged by the broker after {acknowledged:6.1f} ms, "
          f"{expected} cases visible through the API after {latencies[-1]:7.1f} ms")

latencies.sort()
print(f"median {statistics.median(latencies):.1f} ms, p90 {latencies[int(0.9 * (len(latencies) - 1))]:.1f} ms, "
      f"max {latencies[-1]:.1f} ms over {len(latencies)} reports")
