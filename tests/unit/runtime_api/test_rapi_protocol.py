"""The Runtime API state machine, driven directly: no sockets, no event loop."""

from __future__ import annotations

import json

import pytest

from lambent.runtime_api import EndpointBusy, Invocation, RuntimeInitError
from lambent.runtime_api.protocol import (
    ACCEPTED,
    INVALID_REQUEST_ID,
    MAX_RESPONSE_PAYLOAD_BYTES,
    Deliver,
    Park,
    Refuse,
    RuntimeSession,
    RuntimeState,
    error_type_of,
)


def inv(request_id: str = "req-1") -> Invocation:
    return Invocation(request_id, b'{"k": 1}', 1_700_000_000_000, "arn:aws:lambda:us-east-1:1:function:f")


def running(request_id: str = "req-1") -> RuntimeSession:
    session = RuntimeSession()
    session.on_next()
    session.submit(inv(request_id))
    return session


def body(reply_body: bytes) -> dict[str, str]:
    parsed = json.loads(reply_body)
    assert isinstance(parsed, dict)
    return parsed


def test_new_session_is_initialising_and_not_ready() -> None:
    session = RuntimeSession()
    assert session.state is RuntimeState.STARTED
    assert not session.ready and not session.parked and not session.busy


def test_first_next_without_invocation_parks_and_marks_ready() -> None:
    session = RuntimeSession()
    decision = session.on_next()
    assert decision == Park(superseded=False)
    assert session.ready and session.parked and session.state is RuntimeState.READY


def test_submit_to_parked_next_delivers_immediately() -> None:
    session = RuntimeSession()
    session.on_next()
    decision = session.submit(inv())
    assert decision == Deliver(inv())
    assert session.state is RuntimeState.RUNNING and not session.parked and session.busy


def test_submit_before_next_queues_until_next_arrives() -> None:
    session = RuntimeSession()
    assert session.submit(inv()) is None
    assert session.busy and session.state is RuntimeState.STARTED
    assert session.on_next() == Deliver(inv())
    assert session.state is RuntimeState.RUNNING and session.ready


def test_response_completes_invocation_with_payload() -> None:
    session = running()
    outcome = session.on_response("req-1", b'{"ok": true}', oversize=False)
    assert outcome.reply == ACCEPTED
    assert outcome.result is not None
    assert (outcome.result.ok, outcome.result.body, outcome.result.error_type) == (True, b'{"ok": true}', None)
    assert session.state is RuntimeState.RESPONSE_SENT and not session.busy


def test_error_completes_invocation_with_type_from_header_or_body() -> None:
    err = b'{"errorMessage": "x", "errorType": "ValueError"}'
    from_body = running().on_error("req-1", err, None, oversize=False)
    from_header = running().on_error("req-1", err, "Custom.Type", oversize=False)
    assert from_body.result is not None and from_body.result.error_type == "ValueError"
    assert from_header.result is not None and from_header.result.error_type == "Custom.Type"
    assert from_body.result.ok is False and from_body.result.body == err


def test_wrong_request_id_is_400_invalid_request_id_and_changes_nothing() -> None:
    session = running()
    outcome = session.on_response("someone-else", b"{}", oversize=False)
    assert outcome.reply == INVALID_REQUEST_ID
    assert outcome.reply.status == 400
    assert body(outcome.reply.body) == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    assert outcome.result is None and session.state is RuntimeState.RUNNING


def test_response_before_any_invocation_is_400() -> None:
    session = RuntimeSession()
    session.on_next()
    assert session.on_response("req-1", b"{}", oversize=False).reply.status == 400


def test_second_response_for_same_id_is_403_invalid_state_transition() -> None:
    session = running()
    session.on_response("req-1", b"1", oversize=False)
    again = session.on_response("req-1", b"2", oversize=False)
    assert again.reply.status == 403 and again.result is None
    assert body(again.reply.body) == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse "
        "failed for runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    # ...and an /error after a /response too
    assert session.on_error("req-1", b"{}", None, oversize=False).reply.status == 403


def test_oversize_response_is_413_for_runtime_and_error_result_for_caller() -> None:
    session = running()
    outcome = session.on_response("req-1", b"", oversize=True)
    assert outcome.reply.status == 413
    assert body(outcome.reply.body)["errorType"] == "RequestEntityTooLarge"
    assert outcome.result is not None and outcome.result.ok is False
    assert outcome.result.error_type == "Function.ResponseSizeTooLarge"
    assert body(outcome.result.body) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    assert MAX_RESPONSE_PAYLOAD_BYTES == 6291556


def test_init_error_before_first_next_fails_init_and_refuses_next() -> None:
    session = RuntimeSession()
    outcome = session.on_init_error(b'{"errorType": "Runtime.ImportModuleError"}', None, oversize=False)
    assert outcome.reply == ACCEPTED
    assert outcome.init_error is not None and outcome.init_error.error_type == "Runtime.ImportModuleError"
    assert session.state is RuntimeState.INIT_ERROR
    refused = session.on_next()
    assert isinstance(refused, Refuse) and refused.reply.status == 403
    with pytest.raises(RuntimeInitError) as caught:
        session.submit(inv())
    assert caught.value.init_error is outcome.init_error


def test_init_error_while_running_is_accepted_lazy_init() -> None:
    session = running()
    outcome = session.on_init_error(b"{}", "Runtime.Unknown", oversize=False)
    assert outcome.reply == ACCEPTED and outcome.init_error is not None
    assert session.state is RuntimeState.INIT_ERROR
    # the current invocation can no longer be answered
    assert session.on_response("req-1", b"{}", oversize=False).reply.status == 403


def test_init_error_after_runtime_is_ready_and_idle_is_403() -> None:
    session = RuntimeSession()
    session.on_next()
    outcome = session.on_init_error(b"{}", "X", oversize=False)
    assert outcome.reply.status == 403 and outcome.init_error is None
    assert session.state is RuntimeState.READY


def test_queued_invocation_dropped_by_init_error() -> None:
    session = RuntimeSession()
    session.submit(inv())
    session.on_init_error(b"{}", "X", oversize=False)
    assert not session.withdraw("req-1")


def test_submit_while_busy_raises_endpoint_busy() -> None:
    session = running()
    with pytest.raises(EndpointBusy):
        session.submit(inv("req-2"))
    queued = RuntimeSession()
    queued.submit(inv("a"))
    with pytest.raises(EndpointBusy):
        queued.submit(inv("b"))


def test_withdraw_only_removes_a_queued_invocation() -> None:
    session = RuntimeSession()
    session.submit(inv())
    assert session.withdraw("req-1") and not session.busy
    assert session.on_next() == Park(superseded=False)
    delivered = running()
    assert not delivered.withdraw("req-1")


def test_next_while_running_redelivers_current_invocation() -> None:
    session = running()
    assert session.on_next() == Deliver(inv())
    assert session.state is RuntimeState.RUNNING


def test_second_parked_next_supersedes_the_first() -> None:
    session = RuntimeSession()
    session.on_next()
    assert session.on_next() == Park(superseded=True)


def test_abandoned_next_is_no_longer_parked_and_invocations_queue() -> None:
    session = RuntimeSession()
    session.on_next()
    session.abandon_next()
    assert not session.parked
    assert session.submit(inv()) is None
    assert session.on_next() == Deliver(inv())


def test_next_after_response_parks_then_serves_next_invocation() -> None:
    session = running("a")
    session.on_response("a", b"1", oversize=False)
    assert session.on_next() == Park(superseded=False)
    assert session.submit(inv("b")) == Deliver(inv("b"))
    # the old id is no longer current
    assert session.on_response("a", b"1", oversize=False).reply.status == 400


def test_error_type_of_tolerates_bodies_that_are_not_error_json() -> None:
    assert error_type_of(None, b"not json") is None
    assert error_type_of(None, b"[1, 2]") is None
    assert error_type_of(None, b'{"errorType": 3}') is None
    assert error_type_of("", b'{"errorType": "T"}') == "T"


@pytest.mark.parametrize("bad", ["", "a/b", "a b", "x?y", "\u00e9", "a" * 300])
def test_invocation_refuses_request_ids_that_are_not_one_path_segment(bad: str) -> None:
    with pytest.raises(ValueError):
        inv(bad)


@pytest.mark.parametrize("field", ["invoked_function_arn", "trace_id", "client_context", "cognito_identity"])
def test_invocation_refuses_header_injection(field: str) -> None:
    values = {
        "request_id": "r",
        "payload": b"",
        "deadline_ms": 1,
        "invoked_function_arn": "arn",
        field: "ok\r\nX-Injected: 1",
    }
    with pytest.raises(ValueError):
        Invocation(**values)  # type: ignore[arg-type]
