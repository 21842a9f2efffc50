"""ActorProxy invoking the Python PyCounter app through Warren (app-callback mode), with
state kept by Warren and a reminder firing back into the app."""

import asyncio

from dapr.actor import ActorId, ActorProxy

from counter_iface import PyCounterInterface


def expect(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: got {got!r}, want {want!r}")


async def main():
    proxy = ActorProxy.create("PyCounter", ActorId("p1"), PyCounterInterface)
    for _ in range(100):  # Warren reads the app's /dapr/config once the app is up.
        try:
            await proxy.Get()
            break
        except Exception:
            await asyncio.sleep(0.1)
    expect("add 5", await proxy.Add(5), 5)
    expect("add 3", await proxy.Add(3), 8)
    await proxy.Arm(200)
    for _ in range(100):
        state = await proxy.Get()
        if state["fired"] >= 2:
            break
        await asyncio.sleep(0.1)
    expect("state after reminders", await proxy.Get(), {"total": 8, "fired": 2})
    await asyncio.sleep(0.8)
    expect("reminder unregistered by the app", (await proxy.Get())["fired"], 2)
    print("python app client: ok")


asyncio.run(main())
