"""Sends outbound HTTP requests with warren_actor.http, for the tests of Warren's egress
from Python: `fetch` takes `{"url", "method", "body", "headers"}` and answers
`{"status", "body", "type"}`, or `{"error", "code", "received"}` when the request is
refused or fails (an answer, so the test reads why)."""

import warren_actor as w
from warren_actor import http


class FetcherPy(w.ActorType):
    """Sends outbound HTTP requests from Python"""

    name = "fetcher-py"

    def fetch(self, args):
        try:
            response = http.fetch(
                args["url"],
                method=args.get("method", "GET"),
                headers=args.get("headers"),
                body=args.get("body"),
            )
        except http.FetchError as e:
            return {"error": str(e), "code": e.code, "received": e.received}
        return {
            "status": response.status,
            "body": response.body.decode("utf-8", "replace"),
            "type": response.header("content-type"),
        }


Actor = w.component("fetcher-py", "1.0.0", FetcherPy)
