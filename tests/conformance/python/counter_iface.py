"""The interface of the PyCounter actor, shared by the app and its client."""

from dapr.actor import ActorInterface, actormethod


class PyCounterInterface(ActorInterface):
    @actormethod(name="Add")
    async def add(self, n: int) -> int: ...

    @actormethod(name="Get")
    async def get(self) -> dict: ...

    @actormethod(name="Arm")
    async def arm(self, ms: int) -> None: ...
