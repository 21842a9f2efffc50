"""The counter actor in Python: the same actions as the Rust counter.

- `add` takes a JSON integer and returns the new total; `get` returns it.
- `remind` takes `{"due": "1s", "n": 5}` and adds `n` when the reminder fires.
- `call-add` takes `{"target": "id", "n": 3}` and adds `n` to another counter, returning
  that counter's reply.
- `label` returns the component's configuration value `label`
  (`warren config set counter label ...`), or "counter" while it is unset.
"""

import warren_actor as w


class Counter(w.ActorType):
    """Keeps a running total."""

    name = "counter"

    def add(self, n):
        if isinstance(n, list) and len(n) == 1:
            n = n[0]
        if not isinstance(n, int) or isinstance(n, bool):
            raise w.InvalidArgument(f"add takes an integer, not {n!r}")
        total = w.get("total", 0) + n
        w.put("total", total)
        return total

    def get(self):
        return w.get("total", 0)

    def remind(self, args):
        w.remind("add", due=args.get("due", ""), data=args["n"])

    def call_add(self, args):
        return w.call("counter", args["target"], "add", args["n"])

    def label(self):
        return w.config("label", "counter")


Actor = w.component("counter", "1.0.0", Counter)
