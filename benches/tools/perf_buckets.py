#!/usr/bin/env python3
"""CPU per request (or per reminder firing), by bucket, from `perf script` call stacks.

Figure 2 of benches/RESULTS.md (`warren serve` under the load generator):
  perf record -F 1000 --call-graph dwarf,32768 -p PID -o run.data -- sleep 5 &
  target/release/loadgen --addr ... --path ... -c 32 -d 5s     # note its n=REQUESTS
  perf script -i run.data -F comm,tid,ip,sym > run.stacks
  benches/tools/perf_buckets.py run.stacks REQUESTS [more.stacks REQUESTS ...]

Figure 5 (one reminder pass; `--time` keeps the samples from the first due time T on,
seen in `perf script -F time` as the second burst of samples after registration's):
  perf record -F 500 --call-graph dwarf,32768 -o run.data -- \
      target/release/warren-bench reminder-pass 100000 50000 fresh
  perf script -i run.data --time T, -F comm,tid,ip,sym > run.stacks
  benches/tools/perf_buckets.py --set firing --hz 500 run.stacks 100000

Figure 4 (the activations of one run, found with `perf script -F time` as the samples of
the last N seconds it reports):
  perf record -F 499 --call-graph dwarf,16384 -o run.data -- \
      target/release/warren-bench activation --actors 300000
  perf script -i run.data --time T1,T2 -F comm,tid,ip,sym > run.stacks
  benches/tools/perf_buckets.py --set activation --hz 499 run.stacks ACTIVATIONS_IN_T1_T2

Each sample stands for 1000/HZ ms of CPU. A stack goes to the first bucket that matches
any of its frames, in the order of the set.
"""
import argparse
import collections

HTTP_BUCKETS = [
    ("turn: guest code and host calls on the fiber",
     ("fiber_start", "HostFn", "Func::call_raw", "add_to_linker")),
    ("turn: runtime core around the guest", ("Runtime>::invoke",)),
    ("socket writes", ("writev", "sys_sendto")),
    ("socket reads", ("recvfrom", "__libc_recv")),
    ("HTTP parse", ("Http1Transaction>::parse",)),
    ("handler: extractors and response", ("Handler<(M",)),
    ("auth middleware", ("middleware::from_fn",)),
    ("routing", ("Router<S>::call_with_state", "RouteFuture", "Oneshot")),
    ("hyper dispatch and encoding", ("UpgradeableConnection",)),
    # Every worker stack has tokio frames: this takes whatever the buckets above did not.
    ("tokio scheduler and I/O driver", ("tokio::runtime",)),
]


# Call stacks that go through a wasmtime fiber often unwind only part of the way: those
# land in the rows that match their leaf frames (sled, wasmtime) without their callers.
FIRING_BUCKETS = [
    ("fresh instance: instantiate, store and WASI context, drop",
     ("instantiate_async", "WasmEngine::store", "drop_in_place<warren_host::wasm::Warm>",
      "PoolingInstanceAllocator", "StoreOpaque>::drop")),
    ("store: commit (record, reminder progress, flush)", ("ActorWrites::commit", "write_loop")),
    ("store: load the record at the first turn", ("held_record", "StateStore>::load")),
    ("store: read the due reminders", ("reminders_due_now",)),
    ("runtime: commit around the store", ("commit_state", "finish_turn")),
    ("guest code and wasmtime's call", ("fiber_start", "HostFn", "Func::call_raw")),
    # `Runtime::fire` holds the whole firing: this takes the rest of the runtime core too.
    ("firing, schedule and runtime core otherwise",
     ("fire_loop", "Scheduler", "Runtime>::fire", "Runtime>::invoke", "Runtime>::run")),
    ("sled, caller not unwound", ("sled::",)),
    ("wasmtime, caller not unwound", ("wasmtime",)),
    ("allocator", ("mi_", "_mi_")),
    ("tokio scheduler", ("tokio::runtime",)),
]

# Figure 4: a new actor's first turn (`add 1`), kept instance off (a fresh instance each).
ACTIVATION_BUCKETS = [
    ("fresh instance: instantiate, store and WASI context, drop",
     ("instantiate_async", "WasmEngine::store", "drop_in_place<warren_host::wasm::Warm>",
      "PoolingInstanceAllocator", "StoreOpaque>::drop")),
    ("store: load the record at the first turn", ("held_record", "StateStore>::load")),
    ("store: commit (record read, version check, write)", ("ActorWrites::commit",)),
    ("runtime: commit around the store (quota, held record)", ("commit_state",)),
    ("actor table: activation", ("ActorTable::activate", "Runtime>::activate")),
    ("guest code and wasmtime's call", ("fiber_start", "HostFn", "Func::call_raw")),
    ("runtime core otherwise", ("Runtime>::invoke", "Runtime>::run")),
    ("sled, caller not unwound", ("sled::",)),
    ("wasmtime, caller not unwound", ("wasmtime",)),
    ("allocator", ("mi_", "_mi_")),
    ("tokio scheduler", ("tokio::runtime",)),
]

# Each set with the bucket that takes short stacks of unsymbolised JIT code (guest code).
SETS = {
    "http": (HTTP_BUCKETS, HTTP_BUCKETS[0][0]),
    "firing": (FIRING_BUCKETS, "guest code and wasmtime's call"),
    "activation": (ACTIVATION_BUCKETS, "guest code and wasmtime's call"),
}


def stacks(path):
    """Each sample's frames (symbol names), leaf first."""
    current = None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if current is not None:
                    yield current
                current = None
            elif line[0] not in " \t":
                current = []
            elif current is not None:
                parts = line.strip().split(" ", 1)
                current.append(parts[1] if len(parts) > 1 else "?")
    if current:
        yield current


def bucket(frames, buckets, guest):
    for name, needles in buckets:
        if any(n in f for f in frames for n in needles):
            return name
    # wasmtime's JIT code has no symbols: a short unknown stack is guest code.
    if frames and frames[-1] == "[unknown]" and len(frames) < 3:
        return guest
    return "other"


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("--set", choices=SETS, default="http")
    parser.add_argument("--hz", type=float, default=1000.0, help="perf record's -F")
    parser.add_argument("runs", nargs="+", help="STACKS COUNT pairs")
    args = parser.parse_args()
    if len(args.runs) % 2:
        parser.error("give each stacks file with its count of requests or firings")
    buckets, guest = SETS[args.set]
    us_per_sample = 1e6 / args.hz
    runs = []
    for path, count in zip(args.runs[::2], args.runs[1::2]):
        if not count.isdigit() or int(count) == 0:
            parser.error(f"{count!r} is not a count of requests or firings")
        counts = collections.Counter(bucket(s, buckets, guest) for s in stacks(path))
        each = {k: v * us_per_sample / int(count) for k, v in counts.items()}
        each["total"] = sum(counts.values()) * us_per_sample / int(count)
        runs.append((path, each))
    names = [b[0] for b in buckets] + ["other", "total"]
    print(f"{'bucket (µs of CPU each)':56}" + "".join(f"{p[-24:]:>26}" for p, _ in runs))
    for name in names:
        print(f"{name:56}" + "".join(f"{r.get(name, 0.0):26.1f}" for _, r in runs))


if __name__ == "__main__":
    main()
