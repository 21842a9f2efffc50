"""The `{{name}}` actor: `add` takes a JSON integer and returns the new total, `get`
returns it, `remind` ({"due": "10s", "n": 5}) adds `n` when a reminder fires, and
`call-add` ({"target": "id", "n": 3}) adds to another `{{name}}` actor.

Build with `warren build`, deploy with `warren deploy {{name}}.wasm`.
"""

import warren_actor as w


class Counter(w.ActorType):
    """Keeps a running total."""

    name = "{{name}}"

    def add(self, n):
        total = w.get("total", 0) + n
        w.put("total", total)
        return total

    def get(self):
        return w.get("total", 0)

    def remind(self, args):
        w.remind("add", due=args.get("due", ""), data=args["n"])

    def call_add(self, args):
        return w.call("{{name}}", args["target"], "add", args["n"])


Actor = w.component("{{name}}", "0.1.0", Counter)
