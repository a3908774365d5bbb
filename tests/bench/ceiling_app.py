"""The HTTP ceiling: a trivial Falcon app under waitress, answering the same URL with a constant
JSON body of the gateway's shape. What it serves per second is the most any Falcon+waitress
app can serve on this machine with this many threads; the gateway cannot beat it.

    python -m tests.bench.ceiling_app --port 0 --threads 8
"""

from __future__ import annotations

import argparse

import falcon
from waitress import create_server

BODY = {"update": False, "sipaccounts": [], "errmsg": ""}


class Provisioning:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.get_param("username")  # parse the query string, as the gateway must
        resp.media = BODY
        resp.cache_control = ["no-store"]


def create_app() -> falcon.App:  # type: ignore[type-arg]
    app = falcon.App()
    app.add_route("/provisioning", Provisioning())
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    server = create_server(create_app(), host="127.0.0.1", port=args.port, threads=args.threads, ident="")
    print(f"ceiling listening on http://{server.effective_host}:{server.effective_port}/provisioning", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
