"""The PyCounter actor, written with Dapr's Python SDK: hosted behind Warren both by the
FastAPI extension (counter_app.py, app-callback mode) and by ActorGrpcHost
(counter_grpc_host.py, SubscribeActorEventsAlpha1)."""

from datetime import timedelta

from dapr.actor import Actor, Remindable

from counter_iface import PyCounterInterface


class PyCounter(Actor, PyCounterInterface, Remindable):
    async def _get(self, key):
        found, value = await self._state_manager.try_get_state(key)
        return value if found else 0

    async def add(self, n: int) -> int:
        total = await self._get("total") + n
        await self._state_manager.set_state("total", total)
        return total

    async def get(self) -> dict:
        return {"total": await self._get("total"), "fired": await self._get("fired")}

    async def arm(self, ms: int) -> None:
        await self.register_reminder("ping", b'{"hello":"py"}', timedelta(milliseconds=ms), timedelta(milliseconds=ms))

    async def receive_reminder(self, name, state, due_time, period, *args, **kwargs) -> None:
        # The data registered by arm() must come back unchanged, whatever the transport.
        if state != b'{"hello":"py"}':
            raise ValueError(f"reminder data came back as {state!r}")
        fired = await self._get("fired") + 1
        await self._state_manager.set_state("fired", fired)
        if fired >= 2:
            await self.unregister_reminder(name)
