"""A Primus AppMaster gRPC server that records what it is asked and answers as scripted.

Every request is appended to ``--requests-log`` as one JSON line
``{"method": ..., "request": {field: value}}``. ``createSavepoint`` answers with
``--savepoint-code``; successive ``createSavepointStatus`` calls walk through
``--savepoint-states`` (the last one repeats).
"""

from __future__ import annotations

import argparse
import json
import threading
from concurrent import futures

import grpc

from discovery import primus_pb
from tests.fakes import write_port_file


class AppMaster:
    def __init__(self, log_path: str, savepoint_code: int, states: list[str]):
        self.log_path = log_path
        self.savepoint_code = savepoint_code
        self.states = [getattr(primus_pb, s) for s in states]
        self.status_calls = 0
        self.lock = threading.Lock()

    def _record(self, method: str, request) -> None:
        fields = {f.name: v for f, v in request.ListFields()}
        with self.lock, open(self.log_path, "a") as log:
            log.write(json.dumps({"method": method, "request": fields}) + "\n")

    def handler(self, method: str):
        _, response_cls = primus_pb.METHODS[method]

        def handle(request, context):
            self._record(method, request)
            if method == "createSavepoint":
                return response_cls(code=self.savepoint_code, savepoint_id="sp-1",
                                    message="" if self.savepoint_code == 0 else "refused")
            if method == "createSavepointStatus":
                with self.lock:
                    state = self.states[min(self.status_calls, len(self.states) - 1)]
                    self.status_calls += 1
                return response_cls(create_savepoint_state=state)
            return response_cls()

        return handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--requests-log", required=True)
    parser.add_argument("--savepoint-code", type=int, default=0)
    parser.add_argument("--savepoint-states", default="SUCCEEDED")
    args = parser.parse_args()
    am = AppMaster(args.requests_log, args.savepoint_code, args.savepoint_states.split(","))
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            am.handler(method), request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)
        for method, (request, response) in primus_pb.METHODS.items()}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(primus_pb.SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    write_port_file(args.port_file, port)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
