"""Decode the google.rpc.Status that gRPC servers put in the `grpc-status-details-bin` trailer.

googleapis-common-protos is not a dependency, so the three fields we need are declared here in a private
descriptor pool (details are read as raw bytes: the wire format of a repeated message and of repeated bytes
is the same).
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _status_class() -> type:
    file = descriptor_pb2.FileDescriptorProto(name="fabric_gateway/rpc_status.proto", package="fabric_gateway.rpc")
    message = file.message_type.add(name="Status")
    F = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="code", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    message.field.add(name="message", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    message.field.add(name="details", number=3, type=F.TYPE_BYTES, label=F.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("fabric_gateway.rpc.Status"))


_Status = _status_class()


def status_details(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> list[any_pb2.Any]:
    """The Any-packed details of the rich status in the trailing metadata (empty when there is none)."""
    result: list[any_pb2.Any] = []
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = _Status.FromString(value)
        result.extend(any_pb2.Any.FromString(detail) for detail in status.details)
    return result
