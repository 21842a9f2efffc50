// Dapr's JS SDK against Warren: ActorProxyBuilder over HTTP invoking the Wasm counter.
// Run by tests/all/dapr_sdk.rs with DAPR_HTTP_PORT pointing at Warren.
import { ActorId, ActorProxyBuilder, CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";

// The SDK names the actor type after the class.
class counter {
  async add(_n) {}
  async get() {}
}

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    console.error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    process.exit(1);
  }
}

const client = new DaprClient({
  daprHost: "127.0.0.1",
  daprPort: process.env.DAPR_HTTP_PORT,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
});
const actor = new ActorProxyBuilder(counter, client).build(new ActorId("js-1"));
expect("add 5", await actor.add(5), 5);
expect("add 3", await actor.add(3), 8);
expect("get", await actor.get(), 8);
console.log("js wasm client: ok");
process.exit(0);
