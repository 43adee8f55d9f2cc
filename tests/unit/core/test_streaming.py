"""relay(): pings, terminal events, and the failure cases that must never hang a client."""

import json

from api.core.streaming import RelayFailure, RelayTimeouts, relay
from api.libs.sse import RawEvent


class ScriptedSubscription:
    """Returns scripted (delay, message) pairs against a fake clock; never sleeps."""

    def __init__(self, clock, script):
        self.clock, self.script = clock, list(script)

    def receive(self, timeout):
        if self.script and self.script[0][0] <= timeout:
            delay, message = self.script.pop(0)
            self.clock.now += delay
            if isinstance(message, Exception):
                raise message
            return json.dumps(message).encode()
        if self.script:
            self.script[0] = (self.script[0][0] - timeout, self.script[0][1])
        self.clock.now += timeout
        return None


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


TIMEOUTS = RelayTimeouts(ping_interval=10, queue_timeout=60, lost_timeout=10, idle_timeout=300)


def _run(script, timeouts=TIMEOUTS):
    clock = Clock()
    failures = []

    def on_failure(failure: RelayFailure):
        failures.append(failure.reason)
        return {"event": "error", "code": "internal_server_error"}

    relayed = relay(ScriptedSubscription(clock, script), timeouts=timeouts, on_failure=on_failure, clock=clock)
    events = [e.decode() if isinstance(e, RawEvent) else e for e in relayed]
    return events, failures


def test_relay_forwards_events_until_message_end_and_hides_control_events():
    events, failures = _run([(0.01, {"event": "_claimed"}), (0.01, {"event": "message", "answer": "a"}),
                             (0.01, {"event": "_heartbeat"}), (0.01, {"event": "message_end"}),
                             (0.01, {"event": "message", "answer": "late"})])

    assert [e["event"] for e in events] == ["message", "message_end"]
    assert failures == []


def test_relay_pings_every_ten_seconds_while_waiting():
    events, _ = _run([(0.01, {"event": "_claimed"}), (2, {"event": "_heartbeat"}), (2, {"event": "_heartbeat"}),
                      (2, {"event": "_heartbeat"}), (2, {"event": "_heartbeat"}), (2, {"event": "_heartbeat"}),
                      (2, {"event": "_heartbeat"}), (1, {"event": "message_end"})])

    assert events == [None, {"event": "message_end"}]


def test_relay_reports_worker_lost_when_heartbeats_stop():
    events, failures = _run([(0.01, {"event": "_claimed"}), (0.5, {"event": "message", "answer": "a"})])

    assert failures == ["worker_lost"]
    assert events[-1]["event"] == "error"


def test_relay_reports_queue_timeout_when_nobody_claims_the_run():
    _, failures = _run([])

    assert failures == ["queue_timeout"]


def test_relay_ends_with_error_at_once_when_the_worker_could_not_start_the_run():
    events, failures = _run([(0.01, {"event": "_failed"}), (0.01, {"event": "message", "answer": "late"})])

    assert failures == ["worker_failed"]
    assert events == [{"event": "error", "code": "internal_server_error"}]


def test_relay_ends_with_error_when_transport_fails():
    events, failures = _run([(0.01, {"event": "_claimed"}), (0.01, ConnectionError("redis gone"))])

    assert failures == ["transport"]
    assert events[-1]["event"] == "error"


def test_raw_events_keep_the_producers_bytes_and_name():
    data = '{"event":"message","answer":"héllo\\n"}'.encode()
    event = RawEvent.of(data)

    assert event.name == "message"
    assert event.data is data
    assert RawEvent.of(b'{"answer":"x","event":"message_end"}').name == "message_end"  # another key order parses
