"""The Python `opaca` package's AsyncOpacaClient driving Warren's OPACA runtime platform:
login and token renewal, platform info, agents, a Wasm container (the `calculator`
component) started, invoked, messaged and deleted, and the history.

Usage: opaca_client.py BASE_URL [USERNAME PASSWORD]. Run by tests/all/opaca.rs, which
asserts on the one JSON object of observations printed on stdout. Any exception (every
non-2xx answer raises in the client) exits non-zero with a traceback; expected errors are
caught and recorded as their status code and body."""

import asyncio
import json
import sys

import httpx

from opaca import AsyncOpacaClient
from opaca.models import ImageDescription, Message, PostContainer


async def status_of(call):
    """The status and JSON body of a call expected to fail."""
    try:
        got = await call
    except httpx.HTTPStatusError as e:
        try:
            body = e.response.json()
        except ValueError:
            body = e.response.text
        return {"status": e.response.status_code, "body": body}
    return {"status": 200, "unexpected": got}


async def until(call, want, attempts=100):
    """Call until it returns `want` (message delivery may lag the send); the last value."""
    got = None
    for _ in range(attempts):
        got = await call()
        if got == want:
            break
        await asyncio.sleep(0.1)
    return got


async def main():
    url = sys.argv[1]
    client = AsyncOpacaClient(url, timeout=60)
    seen = {}

    if len(sys.argv) > 3:
        token = await client.platform_login(sys.argv[2], sys.argv[3])
        seen["loginToken"] = {"parts": len(token.split(".")), "quoted": token.startswith('"')}

    info = await client.get_info()
    seen["info"] = {"baseUrl": info.baseUrl, "platformId": info.platformId, "containers": len(info.containers)}
    seen["config"] = type(await client.get_config()).__name__

    container_id = await client.post_container(
        PostContainer(image=ImageDescription(imageName="calculator"), arguments={}), timeout=60
    )
    seen["containerId"] = container_id

    seen["agents"] = {
        agent.agentId: sorted(action.name for action in agent.actions) for agent in await client.get_agents()
    }
    calculator = await client.get_agent("calculator")
    add = next(action for action in calculator.actions if action.name == "Add")
    seen["addParameters"] = {name: p.type for name, p in add.parameters.items()}

    seen["add"] = await client.invoke("Add", "calculator", {"x": 20, "y": 22})
    seen["addWithoutAgent"] = await client.invoke("Add", None, {"x": 1, "y": 2})
    seen["addInContainer"] = await client.invoke("Add", "calculator", {"x": 2, "y": 3}, container_id=container_id)
    seen["addNotForwarded"] = await client.invoke("Add", "calculator", {"x": 3, "y": 4}, forward=False)
    seen["greet"] = await client.invoke("Greet", "calculator", {"name": "Ada", "polite": True})
    seen["addBadArguments"] = await status_of(client.invoke("Add", "calculator", {"x": 1, "y": 2.5}))
    seen["unknownAction"] = await status_of(client.invoke("Nope", "calculator", {}))
    seen["fail"] = await status_of(client.invoke("Fail", "calculator", {}))

    renewed = await client.renew_token() if len(sys.argv) > 3 else None
    seen["renewedToken"] = None if renewed is None else {"parts": len(renewed.split("."))}

    # Read with the renewed token, so it must work; before the messages below, whose
    # polling could push the invocations out of the history's last 50 events.
    history = await client.get_history()
    seen["history"] = [
        {"eventType": e.eventType.value, "route": e.route, "statusCode": e.statusCode, "id": e.id, "relatedId": e.relatedId}
        for e in history
    ]

    async def last_message():
        return await client.invoke("LastMessage", "calculator", {}, container_id=container_id)

    await client.send_message("calculator", Message(payload={"hello": "opaca"}), container_id=container_id)
    seen["lastMessageAfterSend"] = await until(last_message, {"hello": "opaca"})
    await client.broadcast("news", Message(payload="breaking"))
    seen["lastMessageAfterBroadcast"] = await until(last_message, "breaking")

    containers = await client.get_containers()
    mine = next(c for c in containers if c.containerId == container_id)
    seen["container"] = {"imageName": mine.image.imageName, "owner": mine.owner, "agents": [a.agentId for a in mine.agents]}
    seen["notify"] = await client.post_container_notify(container_id)

    seen["deleted"] = await client.delete_container(container_id)
    seen["deletedAgain"] = await client.delete_container(container_id)
    seen["agentsAfterDelete"] = [agent.agentId for agent in await client.get_agents()]
    seen["invokeAfterDelete"] = await status_of(client.invoke("Add", "calculator", {"x": 1, "y": 1}))

    print(json.dumps(seen))


asyncio.run(main())
