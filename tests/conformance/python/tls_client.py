"""Dapr's Python SDK (ActorProxy over HTTPS) and its gRPC stubs (over a TLS channel)
against a Warren host serving TLS with a test CA.

Run by tests/all/tls.rs with DAPR_HTTP_ENDPOINT (https://127.0.0.1:PORT) and
DAPR_GRPC_TARGET (127.0.0.1:PORT). With `trusted`, SSL_CERT_FILE and WARREN_TEST_CA
name the test CA and every call must succeed; with `untrusted` neither is given and
every call must fail on the certificate. Exits non-zero, with the reason, otherwise.
"""

import asyncio
import contextlib
import io
import os
import sys

import grpc
import grpc.aio

from dapr.actor import ActorId, ActorProxy
from dapr.proto import api_service_v1, api_v1


async def over_http():
    counter = ActorProxy.create("counter", ActorId("tls-py"))
    return await counter.invoke_method("add", b"5")


async def over_grpc(root):
    credentials = grpc.ssl_channel_credentials(root_certificates=root)
    async with grpc.aio.secure_channel(os.environ["DAPR_GRPC_TARGET"], credentials) as channel:
        dapr = api_service_v1.DaprStub(channel)
        request = api_v1.InvokeActorRequest(actor_type="counter", actor_id="tls-grpc", method="add", data=b"7")
        reply = await dapr.InvokeActor(request, timeout=10)
        return reply.data


async def trusted():
    with open(os.environ["WARREN_TEST_CA"], "rb") as f:
        root = f.read()
    got = await over_http()
    if got != b"5":
        raise SystemExit(f"add over HTTPS: got {got!r}, want b'5'")
    got = await over_grpc(root)
    if got != b"7":
        raise SystemExit(f"add over gRPC with TLS: got {got!r}, want b'7'")


async def untrusted():
    # The SDK may check the sidecar's health first (printing why that failed, then
    # timing out), or pass aiohttp's certificate error on: either way the reason must be
    # the certificate.
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            got = await over_http()
    except Exception as e:
        said = f"{e} {printed.getvalue()}".lower()
        if "certificate" not in said:
            raise SystemExit(f"HTTPS without the CA failed, but not on the certificate: {e!r} {printed.getvalue()}")
    else:
        raise SystemExit(f"HTTPS without the CA succeeded: {got!r}")
    try:
        got = await over_grpc(None)
    except grpc.aio.AioRpcError as e:
        if e.code() != grpc.StatusCode.UNAVAILABLE:
            raise SystemExit(f"gRPC without the CA: got {e.code()}, want UNAVAILABLE")
    else:
        raise SystemExit(f"gRPC without the CA succeeded: {got!r}")


if __name__ == "__main__":
    mode = sys.argv[1]
    asyncio.run({"trusted": trusted, "untrusted": untrusted}[mode]())
    print(f"tls client {mode}: ok")
