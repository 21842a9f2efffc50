"""A Dapr actor app written with the Python SDK's FastAPI extension, hosted behind Warren
in app-callback mode. Usage: counter_app.py PORT (DAPR_HTTP_PORT must point at Warren)."""

import sys

import uvicorn
from fastapi import FastAPI

from dapr.ext.fastapi import DaprActor

from counter_actor import PyCounter


app = FastAPI()
actors = DaprActor(app)


@app.on_event("startup")
async def startup():
    await actors.register_actor(PyCounter)


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
