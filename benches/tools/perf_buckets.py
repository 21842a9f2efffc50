#!/usr/bin/env python3
"""CPU per request of `warren serve`, by bucket, from `perf script` call stacks.

Usage (figure 2 of benches/RESULTS.md):
  perf record -F 1000 --call-graph dwarf,32768 -p PID -o run.data -- sleep 5 &
  target/release/loadgen --addr ... --path ... -c 32 -d 5s     # note its n=REQUESTS
  perf script -i run.data -F comm,tid,ip,sym > run.stacks
  benches/tools/perf_buckets.py run.stacks REQUESTS [more.stacks REQUESTS ...]

At -F 1000 each sample stands for 1 ms of CPU. A stack goes to the first bucket that
matches any of its frames, in the order below.
"""
import collections
import sys

BUCKETS = [
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


def bucket(frames):
    for name, needles in BUCKETS:
        if any(n in f for f in frames for n in needles):
            return name
    # wasmtime's JIT code has no symbols: a short unknown stack is guest code.
    if frames and frames[-1] == "[unknown]" and len(frames) < 3:
        return BUCKETS[0][0]
    return "other"


def main(args):
    if len(args) < 2 or len(args) % 2:
        sys.exit(__doc__)
    runs = []
    for path, requests in zip(args[::2], args[1::2]):
        counts = collections.Counter(bucket(s) for s in stacks(path))
        per_request = {k: v * 1000.0 / int(requests) for k, v in counts.items()}
        per_request["total"] = sum(counts.values()) * 1000.0 / int(requests)
        runs.append((path, per_request))
    names = [b[0] for b in BUCKETS] + ["other", "total"]
    print(f"{'bucket (µs of CPU per request)':46}" + "".join(f"{p[-24:]:>26}" for p, _ in runs))
    for name in names:
        print(f"{name:46}" + "".join(f"{r.get(name, 0.0):26.1f}" for _, r in runs))


if __name__ == "__main__":
    main(sys.argv[1:])
