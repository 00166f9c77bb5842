"""An in-process gRPC Gateway service that parses and verifies what it receives, as a gateway peer would, and
answers from scripts: the Fabric side of the client library's and the retry policy's unit tests.

    servicer = FakeGateway("peer0")
    server, address = serve(servicer, None)  # plaintext; pass {"key", "cert"} for TLS
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from concurrent import futures

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import any_pb2

from tests.support.pki import verify_signature


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def rich_status(code: grpc.StatusCode, message: str, details: list[gateway_pb2.ErrorDetail]) -> bytes:
    """google.rpc.Status, hand-encoded (field 1 code, 2 message, 3 repeated Any)."""
    body = b"\x08" + _varint(code.value[0]) + b"\x12" + _varint(len(message.encode())) + message.encode()
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        data = packed.SerializeToString()
        body += b"\x1a" + _varint(len(data)) + data
    return body


class FakeGateway(gateway_pb2_grpc.GatewayServicer):
    """Parses and verifies requests as a gateway peer would; answers from configurable scripts."""

    def __init__(self, name: str = "peer0") -> None:
        self.name = name
        self.calls: list[tuple[str, object]] = []
        self.commit_codes: deque[int] = deque()
        self.failures: dict[str, tuple[grpc.StatusCode, str, list[gateway_pb2.ErrorDetail]]] = {}
        self.commit_delay = 0.0
        self.events: list[gateway_pb2.ChaincodeEventsResponse] = []
        self.proposals: dict[str, bytes] = {}  # tx id -> creator
        self.hold_events_open = False  # keep the stream open after the scripted events, like a live peer

    def _fail_if_scripted(self, method: str, context) -> None:
        if method in self.failures:
            code, message, details = self.failures[method]
            context.set_trailing_metadata((("grpc-status-details-bin", rich_status(code, message, details)),))
            context.abort(code, message)

    def _check_proposal(self, request_tx_id: str, channel_id: str, signed: proposal_pb2.SignedProposal, context):
        proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
        try:
            verify_signature(signature_header.creator, signed.signature, signed.proposal_bytes)
        except Exception as error:  # the peer answers a bad signature with an error, not a crash
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad proposal signature: {error}")
        expected_tx = hashlib.sha256(signature_header.nonce + signature_header.creator).hexdigest()
        if not (request_tx_id == channel_header.tx_id == expected_tx) or channel_id != channel_header.channel_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "transaction or channel ID mismatch")
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
        invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
        return channel_header, signature_header, list(invocation.chaincode_spec.input.args)

    def Evaluate(self, request, context):
        self.calls.append(("Evaluate", request))
        self._fail_if_scripted("Evaluate", context)
        _, _, args = self._check_proposal(request.transaction_id, request.channel_id, request.proposed_transaction, context)
        result = b"|".join(args) + b"@" + self.name.encode()
        return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(status=200, payload=result))

    def Endorse(self, request, context):
        self.calls.append(("Endorse", request))
        self._fail_if_scripted("Endorse", context)
        channel_header, signature_header, args = self._check_proposal(
            request.transaction_id, request.channel_id, request.proposed_transaction, context
        )
        self.proposals[request.transaction_id] = signature_header.creator
        action = proposal_pb2.ChaincodeAction(
            response=proposal_response_pb2.Response(status=200, payload=b"ok:" + args[0])
        )
        response_payload = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
        action_payload = transaction_pb2.ChaincodeActionPayload(
            action=transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=response_payload.SerializeToString())
        )
        tx = transaction_pb2.Transaction(
            actions=[transaction_pb2.TransactionAction(payload=action_payload.SerializeToString())]
        )
        header = common_pb2.Header(
            channel_header=channel_header.SerializeToString(), signature_header=signature_header.SerializeToString()
        )
        payload = common_pb2.Payload(header=header, data=tx.SerializeToString())
        return gateway_pb2.EndorseResponse(prepared_transaction=common_pb2.Envelope(payload=payload.SerializeToString()))

    def Submit(self, request, context):
        self.calls.append(("Submit", request))
        self._fail_if_scripted("Submit", context)
        payload = common_pb2.Payload.FromString(request.prepared_transaction.payload)
        creator = common_pb2.SignatureHeader.FromString(payload.header.signature_header).creator
        try:
            verify_signature(creator, request.prepared_transaction.signature, request.prepared_transaction.payload)
        except Exception as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad envelope signature: {error}")
        if request.transaction_id not in self.proposals:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "unknown transaction")
        return gateway_pb2.SubmitResponse()

    def CommitStatus(self, request, context):
        self.calls.append(("CommitStatus", request))
        self._fail_if_scripted("CommitStatus", context)
        inner = gateway_pb2.CommitStatusRequest.FromString(request.request)
        try:
            verify_signature(inner.identity, request.signature, request.request)
        except Exception as error:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"bad commit status signature: {error}")
        if self.commit_delay:
            time.sleep(self.commit_delay)
        code = self.commit_codes.popleft() if self.commit_codes else transaction_pb2.VALID
        return gateway_pb2.CommitStatusResponse(result=code, block_number=7)

    def ChaincodeEvents(self, request, context):
        self.calls.append(("ChaincodeEvents", request))
        inner = gateway_pb2.ChaincodeEventsRequest.FromString(request.request)
        try:
            verify_signature(inner.identity, request.signature, request.request)
        except Exception as error:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"bad events signature: {error}")
        yield from self.events
        deadline = time.monotonic() + 5
        while self.hold_events_open and context.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)


def serve(servicer: FakeGateway, tls: dict | None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
    if tls:
        credentials = grpc.ssl_server_credentials([(tls["key"], tls["cert"])])
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
