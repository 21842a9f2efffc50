"""Dapr's Python SDK against Warren: ActorProxy invoking Wasm actors, and timers and
reminders registered the way the SDK's actors register them.

Run by tests/all/dapr_sdk.rs with DAPR_HTTP_PORT pointing at Warren. Exits non-zero,
with the reason, on the first mismatch.
"""

import asyncio
import json
from datetime import timedelta

from dapr.actor import ActorId, ActorProxy
from dapr.actor.runtime._reminder_data import ActorReminderData
from dapr.actor.runtime._timer_data import ActorTimerData
from dapr.clients.http.dapr_actor_http_client import DaprActorHttpClient
from dapr.serializers import DefaultJSONSerializer


def expect(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: got {got!r}, want {want!r}")


async def fired(ticker, name):
    return json.loads(await ticker.invoke_method("count", json.dumps(name).encode()))


async def wait_fired(ticker, name, at_least):
    for _ in range(100):
        if await fired(ticker, name) >= at_least:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{name} fired {await fired(ticker, name)} times, wanted {at_least}")


def on_tick():
    """Named timer callback; the SDK sends its name as the timer's `callback`."""


async def main():
    counter = ActorProxy.create("counter", ActorId("py-1"))
    expect("add 5", await counter.invoke_method("add", b"5"), b"5")
    expect("add 3", await counter.invoke_method("add", b"3"), b"8")
    expect("get", await counter.invoke_method("get"), b"8")

    serializer = DefaultJSONSerializer()
    client = DaprActorHttpClient(serializer)
    ticker = ActorProxy.create("ticker", ActorId("py-t"))

    # Exactly what Actor.register_reminder sends: base64 data, Go-style durations with μs.
    reminder = ActorReminderData("wake", b'{"from":"python"}', timedelta(milliseconds=200), timedelta(milliseconds=300))
    await client.register_reminder("ticker", "py-t", "wake", serializer.serialize(reminder.as_dict()))
    await wait_fired(ticker, "wake", 2)
    last = json.loads(await ticker.invoke_method("last", b'"wake"'))
    expect("reminder kind", last["kind"], "reminder")
    await client.unregister_reminder("ticker", "py-t", "wake")
    stopped = await fired(ticker, "wake")
    await asyncio.sleep(1.0)
    if await fired(ticker, "wake") > stopped + 1:
        raise SystemExit("reminder kept firing after unregister")

    timer = ActorTimerData("tick", on_tick, b"", timedelta(milliseconds=100), timedelta(milliseconds=200))
    body = timer.as_dict()
    body["data"] = "payload"
    await client.register_timer("ticker", "py-t", "tick", serializer.serialize(body))
    await wait_fired(ticker, "on_tick", 2)
    await client.unregister_timer("ticker", "py-t", "tick")
    print("python wasm client: ok")


asyncio.run(main())
