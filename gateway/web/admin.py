"""The operations listener: ``/healthz``, ``/readyz``, ``/metrics``. Serves nothing else."""

from __future__ import annotations

import falcon

from gateway.ops.metrics import CONTENT_TYPE, Metrics
from gateway.ops.readiness import Readiness


class Health:
    """The process is alive and answering HTTP."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "alive"}


class Ready:
    """Every directory server accepts the service account and the store answers, in time."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self._readiness.report()
        resp.status = falcon.HTTP_200 if report.ready else falcon.HTTP_503
        resp.media = report.to_json()


class MetricsResource:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE
        resp.data = self._metrics.exposition()


def create_admin_app(metrics: Metrics, readiness: Readiness) -> falcon.App[falcon.Request, falcon.Response]:
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App()
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(readiness))
    app.add_route("/metrics", MetricsResource(metrics))
    return app
