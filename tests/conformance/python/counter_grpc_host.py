"""The PyCounter actor hosted behind Warren by the Python SDK's ActorGrpcHost: the host
dials Warren's gRPC port, opens SubscribeActorEventsAlpha1, and serves the callbacks;
the actor's state and reminder calls go back over Dapr's unary gRPC RPCs.

Usage: counter_grpc_host.py, with DAPR_RUNTIME_HOST and DAPR_GRPC_PORT pointing at Warren.
Prints "registered" once Warren has acknowledged the stream."""

import asyncio

from dapr.actor.runtime.grpc_host import ActorGrpcHost

from counter_actor import PyCounter


async def main():
    host = ActorGrpcHost()
    await host.register_actor(PyCounter)
    await host.start()
    print("registered", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
