"""A Dapr actor app written with the Python SDK's FastAPI extension, hosted behind Warren
in app-callback mode. Usage: counter_app.py PORT (DAPR_HTTP_PORT must point at Warren)."""

import sys
from datetime import timedelta

import uvicorn
from fastapi import FastAPI

from dapr.actor import Actor, Remindable
from dapr.ext.fastapi import DaprActor

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
        fired = await self._get("fired") + 1
        await self._state_manager.set_state("fired", fired)
        if fired >= 2:
            await self.unregister_reminder(name)


app = FastAPI()
actors = DaprActor(app)


@app.on_event("startup")
async def startup():
    await actors.register_actor(PyCounter)


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
