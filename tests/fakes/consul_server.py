"""A single-node Consul agent over HTTP, enough for py-consul's service discovery calls.

Speaks Consul's paths and JSON shapes: ``PUT /v1/agent/service/register``,
``PUT /v1/agent/service/deregister/<id>``, ``PUT /v1/agent/check/pass/<id>``,
``GET /v1/agent/services``,
``GET /v1/health/service/<name>[?passing=1]``, ``GET /v1/catalog/service/<name>``,
with ``X-Consul-Index`` on reads. TTL checks start critical, pass on
``check/pass`` and go critical again when the TTL runs out, as in Consul.

Fault controls (not Consul API):
- ``PUT /_fake/blacklist`` with a JSON list of ``ip:port``: those services'
  checks stay critical (an operator blacklist), so they never pass.
- ``PUT /_fake/drop?count=N``: the next N API requests get their connection
  closed without an answer.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes import write_port_file

NODE = {"ID": "00000000-0000-0000-0000-000000000001", "Node": "fake-node",
        "Address": "127.0.0.1", "Datacenter": "dc1",
        "TaggedAddresses": {"lan": "127.0.0.1", "wan": "127.0.0.1"}, "Meta": {}}
_DURATION = re.compile(r"([\d.]+)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(duration) -> float | None:
    if duration is None:
        return None
    if isinstance(duration, (int, float)):
        return duration / 1e9
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(str(duration)))


def _lower_keys(obj):
    """Consul decodes JSON field names case-insensitively; so does the fake."""
    if isinstance(obj, dict):
        return {str(k).lower(): v for k, v in obj.items()}
    return obj


class Agent:
    """Services and checks of one node, guarded by one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.services: dict[str, dict] = {}
        self.checks: dict[str, dict] = {}
        self.blacklist: set[str] = set()
        self.drop = 0
        self.index = 1

    def register(self, body: dict) -> tuple[int, str]:
        body = _lower_keys(body)
        name = body.get("name")
        if not name:
            return 400, "Missing service name"
        service_id = body.get("id") or name
        raw_checks = body.get("checks") or ([body["check"]] if body.get("check") else [])
        with self.lock:
            self._remove(service_id)
            self.services[service_id] = {
                "ID": service_id, "Service": name, "Tags": list(body.get("tags") or []),
                "Address": body.get("address") or "", "Port": int(body.get("port") or 0),
                "Meta": body.get("meta") or {}, "Weights": {"Passing": 1, "Warning": 1},
                "EnableTagOverride": False}
            for i, raw in enumerate(raw_checks):
                check = _lower_keys(raw)
                check_id = check.get("checkid") or check.get("id") or (
                    f"service:{service_id}" + (f":{i + 1}" if len(raw_checks) > 1 else ""))
                self.checks[check_id] = {
                    "CheckID": check_id, "Name": check.get("name") or f"Service '{name}' check",
                    "ServiceID": service_id, "ServiceName": name,
                    "Status": check.get("status") or "critical",
                    "ttl": _seconds(check.get("ttl")), "passed_at": time.monotonic()}
            self.index += 1
        return 200, ""

    def _remove(self, service_id: str) -> bool:
        if self.services.pop(service_id, None) is None:
            return False
        for check_id in [c for c, v in self.checks.items() if v["ServiceID"] == service_id]:
            del self.checks[check_id]
        return True

    def deregister(self, service_id: str) -> tuple[int, str]:
        with self.lock:
            if not self._remove(service_id):
                return 404, f'Unknown service ID "{service_id}"'
            self.index += 1
        return 200, ""

    def pass_check(self, check_id: str) -> tuple[int, str]:
        with self.lock:
            check = self.checks.get(check_id)
            if check is None:
                return 404, f'Unknown check ID "{check_id}"'
            check["Status"], check["passed_at"] = "passing", time.monotonic()
            self.index += 1
        return 200, ""

    def _status(self, check: dict) -> str:
        service = self.services[check["ServiceID"]]
        if f"{service['Address'] or NODE['Address']}:{service['Port']}" in self.blacklist:
            return "critical"
        expired = check["ttl"] and time.monotonic() - check["passed_at"] > check["ttl"]
        return "critical" if expired else check["Status"]

    def health(self, name: str, passing: bool) -> list[dict]:
        with self.lock:
            out = []
            for service in self.services.values():
                if service["Service"] != name:
                    continue
                checks = [{"Node": NODE["Node"], "CheckID": "serfHealth",
                           "Name": "Serf Health Status", "Status": "passing", "ServiceID": "",
                           "ServiceName": "", "ServiceTags": []}]
                for check in self.checks.values():
                    if check["ServiceID"] == service["ID"]:
                        checks.append({"Node": NODE["Node"], "CheckID": check["CheckID"],
                                       "Name": check["Name"], "Status": self._status(check),
                                       "ServiceID": service["ID"], "ServiceName": name,
                                       "ServiceTags": service["Tags"], "Type": "ttl"})
                if passing and any(c["Status"] != "passing" for c in checks):
                    continue
                out.append({"Node": NODE, "Service": service, "Checks": checks})
            return out

    def catalog(self, name: str) -> list[dict]:
        with self.lock:
            return [{"ID": NODE["ID"], "Node": NODE["Node"], "Address": NODE["Address"],
                     "Datacenter": NODE["Datacenter"], "TaggedAddresses": NODE["TaggedAddresses"],
                     "NodeMeta": {}, "ServiceID": s["ID"], "ServiceName": s["Service"],
                     "ServiceTags": s["Tags"], "ServiceAddress": s["Address"],
                     "ServicePort": s["Port"], "ServiceMeta": s["Meta"],
                     "ServiceEnableTagOverride": False}
                    for s in self.services.values() if s["Service"] == name]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    agent: Agent

    def log_message(self, fmt, *args):
        print(f"{self.command} {self.path} " + fmt % args, flush=True)

    def _reply(self, code: int, body="", index: bool = False):
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if not isinstance(body, str)
                         else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if index:
            self.send_header("X-Consul-Index", str(self.agent.index))
            self.send_header("X-Consul-Knownleader", "true")
            self.send_header("X-Consul-Lastcontact", "0")
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def _dropped(self) -> bool:
        with self.agent.lock:
            if self.agent.drop > 0:
                self.agent.drop -= 1
                self.close_connection = True
                return True
        return False

    def do_PUT(self):
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        body = self._body()
        if path == "/_fake/blacklist":
            with self.agent.lock:
                self.agent.blacklist = set(body)
            return self._reply(200, "")
        if path == "/_fake/drop":
            with self.agent.lock:
                self.agent.drop = int(query.get("count", ["1"])[0])
            return self._reply(200, "")
        if self._dropped():
            return None
        if path == "/v1/agent/service/register":
            return self._reply(*self.agent.register(body))
        if path.startswith("/v1/agent/service/deregister/"):
            return self._reply(*self.agent.deregister(path.rsplit("/", 1)[1]))
        if path.startswith("/v1/agent/check/pass/"):
            return self._reply(*self.agent.pass_check(path[len("/v1/agent/check/pass/"):]))
        return self._reply(404, f"no handler for PUT {path}")

    def do_GET(self):
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        if self._dropped():
            return None
        if path.startswith("/v1/health/service/"):
            passing = query.get("passing", ["0"])[0] not in ("0", "false")
            return self._reply(200, self.agent.health(path.rsplit("/", 1)[1], passing), index=True)
        if path == "/v1/agent/services":
            with self.agent.lock:
                return self._reply(200, dict(self.agent.services))
        if path.startswith("/v1/catalog/service/"):
            return self._reply(200, self.agent.catalog(path.rsplit("/", 1)[1]), index=True)
        return self._reply(404, f"no handler for GET {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    handler = type("BoundHandler", (Handler,), {"agent": Agent()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    write_port_file(args.port_file, server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
