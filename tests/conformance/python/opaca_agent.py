"""An OPACA agent container written with the Python `opaca` package, started by Warren as a
process container (`--opaca-image NAME=COMMAND`).

It listens on 127.0.0.1 and the port in env PORT. Its one agent, `sample-agent`, offers:
Double(x) -> 2x; RaiseError(), which always raises (the package answers 400, Warren must
answer 502 with that as the cause); GetEnv(), the environment Warren gave the container;
GetMessages(), the messages it received by /send or on the `news` channel; and
CallPlatform(path), a GET on Warren's RP API with the container's TOKEN."""

import os
from pathlib import Path

import httpx

import opaca
from opaca import AbstractAgent, Container, action
from opaca.models import Message


class SampleAgent(AbstractAgent):
    """Doubles numbers, fails on request and reports its environment."""

    def __init__(self, container: Container) -> None:
        self.received: list[dict] = []
        super().__init__(container=container, agent_id="sample-agent", agent_type="SampleAgent")
        self.subscribe_channel("news")

    @action
    def double(self, x: int) -> int:
        """Twice x."""
        return 2 * x

    @action
    def raise_error(self) -> None:
        """Always raises."""
        raise RuntimeError("the sample agent was asked to fail")

    @action
    def get_env(self) -> dict:
        """The environment the platform gave this container."""
        env = os.environ
        return {
            "containerId": env.get("CONTAINER_ID"),
            "owner": env.get("OWNER"),
            "platformUrl": env.get("PLATFORM_URL"),
            "tokenSet": bool(env.get("TOKEN")),
            "port": env.get("PORT"),
            "portMapping": env.get("PORT_MAPPING"),
            "greeting": env.get("greeting"),
            "secretSet": "secret" in env,
            "secret": env.get("secret"),
            # As the package itself read them.
            "sdkContainerId": self.container.container_id,
            "sdkOwner": self.container.owner,
        }

    @action
    def get_messages(self) -> list[dict]:
        """The messages received so far, oldest first."""
        return self.received

    @action
    async def call_platform(self, path: str) -> dict:
        """GET PLATFORM_URL + path with the container's TOKEN, as an agent calls its platform."""
        headers = {"sender-id": os.environ.get("CONTAINER_ID", "")}
        token = os.environ.get("TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{os.environ['PLATFORM_URL']}{path}", headers=headers, timeout=30)
        return {"status": response.status_code, "body": response.text}

    def receive_message(self, message: Message) -> None:
        super().receive_message(message)
        self.received.append({"payload": message.payload, "replyTo": message.replyTo})


def main() -> None:
    container = Container(str(Path(__file__).with_name("opaca_container.json")))
    SampleAgent(container)
    opaca.run(container, host="127.0.0.1", port=int(os.environ["PORT"]))


if __name__ == "__main__":
    main()
