"""The gRPC stubs shipped in Dapr's Python SDK calling every actor RPC Warren serves on
`dapr.proto.runtime.v1.Dapr`, against Wasm actors (counter, and hostile's ticker).

Run by tests/all/dapr_grpc.rs with DAPR_GRPC_ENDPOINT pointing at Warren, started with
--api-token, whose value is in DAPR_API_TOKEN. Exits non-zero, with the reason, on the
first mismatch."""

import asyncio
import json
import os

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2

from dapr.proto import api_service_v1, api_v1, common_v1

TOKEN = os.environ["DAPR_API_TOKEN"]
AUTH = (("dapr-api-token", TOKEN),)


def expect(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: got {got!r}, want {want!r}")


async def expect_code(what, call, code):
    try:
        await call
    except grpc.aio.AioRpcError as e:
        expect(f"{what} status", e.code(), code)
        return e.details()
    raise SystemExit(f"{what}: succeeded, want {code}")


async def main():
    endpoint = os.environ["DAPR_GRPC_ENDPOINT"].removeprefix("http://")
    async with grpc.aio.insecure_channel(endpoint) as channel:
        dapr = api_service_v1.DaprStub(channel)

        async def invoke(actor_type, actor_id, method, data=b""):
            reply = await dapr.InvokeActor(
                api_v1.InvokeActorRequest(actor_type=actor_type, actor_id=actor_id, method=method, data=data),
                metadata=AUTH,
            )
            return reply.data

        async def state(actor_id, key):
            reply = await dapr.GetActorState(
                api_v1.GetActorStateRequest(actor_type="counter", actor_id=actor_id, key=key), metadata=AUTH
            )
            return reply.data

        # Auth: the token names the tenant; none or a forged one is refused.
        request = api_v1.InvokeActorRequest(actor_type="counter", actor_id="g1", method="get")
        await expect_code("no token", dapr.InvokeActor(request), grpc.StatusCode.UNAUTHENTICATED)
        await expect_code(
            "forged token",
            dapr.InvokeActor(request, metadata=(("dapr-api-token", "forged"),)),
            grpc.StatusCode.UNAUTHENTICATED,
        )

        # InvokeActor and GetActorState against the Wasm counter.
        expect("add 5", await invoke("counter", "g1", "add", b"5"), b"5")
        expect("add 2", await invoke("counter", "g1", "add", b"2"), b"7")
        expect("state total", await state("g1", "total"), b"7")
        expect("absent key", await state("g1", "nothing"), b"")
        await expect_code(
            "unknown method", invoke("counter", "g1", "nope"), grpc.StatusCode.NOT_FOUND
        )
        await expect_code(
            "unhosted type", invoke("nobody", "g1", "get"), grpc.StatusCode.NOT_FOUND
        )
        await expect_code(
            "state of an unhosted type",
            dapr.GetActorState(api_v1.GetActorStateRequest(actor_type="nobody", actor_id="x", key="k"), metadata=AUTH),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        await expect_code(
            "bad payload", invoke("counter", "g1", "add", b'"five"'), grpc.StatusCode.INVALID_ARGUMENT
        )

        # ExecuteActorStateTransaction: the value's Any.value is stored, and the actor sees it.
        def op(kind, key, value=None):
            o = api_v1.TransactionalActorStateOperation(operationType=kind, key=key)
            if value is not None:
                o.value.CopyFrom(any_pb2.Any(type_url="ignored/by.warren", value=value))
            return o

        await dapr.ExecuteActorStateTransaction(
            api_v1.ExecuteActorStateTransactionRequest(
                actor_type="counter", actor_id="g1", operations=[op("upsert", "total", b"40"), op("upsert", "note", b'"hi"')]
            ),
            metadata=AUTH,
        )
        expect("note", await state("g1", "note"), b'"hi"')
        expect("add after the transaction", await invoke("counter", "g1", "add", b"2"), b"42")
        await dapr.ExecuteActorStateTransaction(
            api_v1.ExecuteActorStateTransactionRequest(actor_type="counter", actor_id="g1", operations=[op("delete", "note")]),
            metadata=AUTH,
        )
        expect("deleted note", await state("g1", "note"), b"")
        await expect_code(
            "merge operation",
            dapr.ExecuteActorStateTransaction(
                api_v1.ExecuteActorStateTransactionRequest(actor_type="counter", actor_id="g1", operations=[op("merge", "k", b"1")]),
                metadata=AUTH,
            ),
            grpc.StatusCode.UNIMPLEMENTED,
        )
        await expect_code(
            "transaction on an inactive actor",
            dapr.ExecuteActorStateTransaction(
                api_v1.ExecuteActorStateTransactionRequest(actor_type="counter", actor_id="never-called", operations=[op("upsert", "k", b"1")]),
                metadata=AUTH,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )

        # Timers: register, fire into the Wasm ticker, unregister.
        async def count(actor_id, name):
            return json.loads(await invoke("ticker", actor_id, "count", json.dumps(name).encode()))

        async def wait_count(actor_id, name, at_least):
            for _ in range(100):
                if await count(actor_id, name) >= at_least:
                    return
                await asyncio.sleep(0.1)
            raise SystemExit(f"{name} fired {await count(actor_id, name)} times, wanted {at_least}")

        await dapr.RegisterActorTimer(
            api_v1.RegisterActorTimerRequest(
                actor_type="ticker", actor_id="t1", name="tick", due_time="100ms", period="150ms", callback="ontick", data=b'{"n":1}'
            ),
            metadata=AUTH,
        )
        await wait_count("t1", "ontick", 2)
        await dapr.UnregisterActorTimer(
            api_v1.UnregisterActorTimerRequest(actor_type="ticker", actor_id="t1", name="tick"), metadata=AUTH
        )
        stopped = await count("t1", "ontick")
        await asyncio.sleep(0.6)
        if await count("t1", "ontick") > stopped + 1:
            raise SystemExit("timer kept firing after UnregisterActorTimer")
        await expect_code(
            "timer with a bad period",
            dapr.RegisterActorTimer(
                api_v1.RegisterActorTimerRequest(actor_type="ticker", actor_id="t1", name="bad", due_time="1s", period="often"),
                metadata=AUTH,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )

        # Reminders: register (with a failure policy), read back, list, overwrite rules.
        policy = common_v1.JobFailurePolicy(
            constant=common_v1.JobFailurePolicyConstant(interval=duration_pb2.Duration(seconds=1), max_retries=2)
        )
        wake = api_v1.RegisterActorReminderRequest(
            actor_type="ticker", actor_id="t1", name="wake", due_time="100ms", period="200ms", data=b'{"a":1}', failure_policy=policy
        )
        await dapr.RegisterActorReminder(wake, metadata=AUTH)
        got = await dapr.GetActorReminder(
            api_v1.GetActorReminderRequest(actor_type="ticker", actor_id="t1", name="wake"), metadata=AUTH
        )
        expect("reminder actor", (got.actor_type, got.actor_id), ("ticker", "t1"))
        expect("reminder period", got.period, "200ms")
        data = wrappers_pb2.BytesValue()
        got.data.Unpack(data)
        # As daprd stores it: the JSON string of the bytes' base64.
        expect("reminder data", data.value, b'"eyJhIjoxfQ=="')
        wake.overwrite = False
        await expect_code(
            "reminder without overwrite", dapr.RegisterActorReminder(wake, metadata=AUTH), grpc.StatusCode.ALREADY_EXISTS
        )
        await wait_count("t1", "wake", 2)
        last = json.loads(await invoke("ticker", "t1", "last", b'"wake"'))
        expect("reminder delivered", (last["kind"], last["data"]), ("reminder", '"eyJhIjoxfQ=="'))
        await dapr.RegisterActorReminder(
            api_v1.RegisterActorReminderRequest(actor_type="ticker", actor_id="t2", name="later", due_time="1h"), metadata=AUTH
        )
        listed = await dapr.ListActorReminders(api_v1.ListActorRemindersRequest(actor_type="ticker"), metadata=AUTH)
        expect(
            "listed reminders",
            sorted((r.reminder.actor_id, r.name) for r in listed.reminders),
            [("t1", "wake"), ("t2", "later")],
        )
        listed = await dapr.ListActorReminders(
            api_v1.ListActorRemindersRequest(actor_type="ticker", actor_id="t2"), metadata=AUTH
        )
        expect("reminders of t2", [r.name for r in listed.reminders], ["later"])

        await dapr.UnregisterActorReminder(
            api_v1.UnregisterActorReminderRequest(actor_type="ticker", actor_id="t1", name="wake"), metadata=AUTH
        )
        await expect_code(
            "unregistered reminder",
            dapr.GetActorReminder(api_v1.GetActorReminderRequest(actor_type="ticker", actor_id="t1", name="wake"), metadata=AUTH),
            grpc.StatusCode.NOT_FOUND,
        )
        await dapr.RegisterActorReminder(
            api_v1.RegisterActorReminderRequest(actor_type="ticker", actor_id="t3", name="later", due_time="1h"), metadata=AUTH
        )
        await dapr.UnregisterActorRemindersByType(
            api_v1.UnregisterActorRemindersByTypeRequest(actor_type="ticker", actor_id="t3"), metadata=AUTH
        )
        listed = await dapr.ListActorReminders(api_v1.ListActorRemindersRequest(actor_type="ticker"), metadata=AUTH)
        expect("after removing t3's", [r.reminder.actor_id for r in listed.reminders], ["t2"])
        await dapr.UnregisterActorRemindersByType(
            api_v1.UnregisterActorRemindersByTypeRequest(actor_type="ticker"), metadata=AUTH
        )
        listed = await dapr.ListActorReminders(api_v1.ListActorRemindersRequest(actor_type="ticker"), metadata=AUTH)
        expect("after removing the type's", list(listed.reminders), [])

        # Every other RPC of Dapr's service is not Warren's business.
        await expect_code(
            "GetState", dapr.GetState(api_v1.GetStateRequest(store_name="s", key="k"), metadata=AUTH), grpc.StatusCode.UNIMPLEMENTED
        )
        await expect_code(
            "GetMetadata", dapr.GetMetadata(api_v1.GetMetadataRequest(), metadata=AUTH), grpc.StatusCode.UNIMPLEMENTED
        )
    print("python grpc stubs: ok")


asyncio.run(main())
