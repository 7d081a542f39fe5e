"""ZooKeeper discovery: one ephemeral node per replica, a watched local view for queries.

Own nodes live as long as the session. A single worker thread keeps things true:
it follows watch events into the local view, re-checks own nodes every
``registration_period_s`` (recreating missing ones, repairing corrupted data),
and after any reconnect (notably a LOST session that came back as a new one)
re-registers everything and rebuilds the view. Kazoo callbacks only enqueue work.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from kazoo.client import KazooState
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    NoNodeError,
)

from discovery.base import ServiceDiscovery, check_entry
from discovery.zk_utils import ZKConfig, connect, job_path

log = logging.getLogger(__name__)

_STOP = "stop"
_RESYNC = "resync"
_CHILDREN = "children"
_MAX_WRITE_ROUNDS = 8


class ZKServiceDiscovery(ServiceDiscovery):
    """Registers under ``/monolith/<job_name>/<name>.<index>``; queries read the watched view."""

    def __init__(self, config: ZKConfig):
        """Connects (``KazooTimeoutError`` if the ensemble does not answer) and loads the view."""
        self._config = config
        self._path = job_path(config.job_name)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._view: dict[str, str] = {}
        self._registered: dict[str, str] = {}
        self._events: queue.Queue = queue.Queue()
        self._closed = False
        self._client = connect(config)
        try:
            self._refresh_all()
        except BaseException:
            self._client.stop()
            self._client.close()
            raise
        self._client.add_listener(self._on_state)
        self._worker = threading.Thread(target=self._run, name=f"zk-discovery-{config.job_name}",
                                        daemon=True)
        self._worker.start()

    def register(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        child = f"{name}.{index}"
        with self._write_lock:
            self._write(child, addr)
            with self._lock:
                self._registered[child] = addr
                self._view[child] = addr

    def deregister(self, name: str, index: int, addr: str) -> None:
        check_entry(name, index, addr)
        child = f"{name}.{index}"
        with self._write_lock:
            with self._lock:
                if self._registered.get(child) == addr:
                    del self._registered[child]
            try:
                data, stat = self._client.retry(self._client.get, f"{self._path}/{child}")
                if data.decode("utf-8", "replace") == addr:
                    self._client.retry(self._client.delete, f"{self._path}/{child}",
                                       version=stat.version)
            except (NoNodeError, BadVersionError):
                pass
            with self._lock:
                if self._view.get(child) == addr:
                    del self._view[child]

    def query(self, name: str) -> dict[int, str]:
        check_entry(name, 0)
        found = {}
        with self._lock:
            for child, addr in self._view.items():
                role, _, index = child.rpartition(".")
                if role == name and index.isdigit():
                    found[int(index)] = addr
        return dict(sorted(found.items()))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.remove_listener(self._on_state)
        self._events.put(_STOP)
        self._client.stop()
        self._worker.join()
        self._client.close()

    # Own nodes.

    def _write(self, child: str, addr: str) -> None:
        """Makes ``child`` an ephemeral node of this session holding ``addr``."""
        path, data = f"{self._path}/{child}", addr.encode("utf-8")
        retry = self._client.retry
        for _ in range(_MAX_WRITE_ROUNDS):
            try:
                current, stat = retry(self._client.get, path)
            except NoNodeError:
                try:
                    retry(self._client.create, path, data, ephemeral=True, makepath=True)
                    return
                except NodeExistsError:
                    continue
            if not self._client.client_id:
                raise ConnectionLoss(f"no zk session while registering {path}")
            session = self._client.client_id[0]
            try:
                if stat.ephemeralOwner == session:
                    if current != data:
                        log.warning("repairing %s: %r -> %r", path, current, data)
                        retry(self._client.set, path, data, version=stat.version)
                    return
                log.warning("taking over %s (held %r by session %#x)", path, current,
                            stat.ephemeralOwner)
                retry(self._client.delete, path, version=stat.version)
            except (NoNodeError, BadVersionError):
                continue
        raise KazooException(f"could not register {path}: it kept changing under us")

    def _repair(self) -> None:
        with self._lock:
            wanted = dict(self._registered)
        for child, addr in wanted.items():
            with self._write_lock:
                with self._lock:
                    if self._registered.get(child) != addr:
                        continue
                self._write(child, addr)
                with self._lock:
                    self._view[child] = addr

    # The view.

    def _refresh_all(self) -> None:
        self._client.ensure_path(self._path)
        children = self._client.get_children(self._path, watch=self._on_children)
        view = {}
        for child in children:
            addr = self._read(child)
            if addr is not None:
                view[child] = addr
        with self._lock:
            self._view = view

    def _refresh_children(self) -> None:
        try:
            children = set(self._client.get_children(self._path, watch=self._on_children))
        except NoNodeError:
            self._refresh_all()
            return
        with self._lock:
            known = set(self._view)
            for gone in known - children:
                del self._view[gone]
        for child in children - known:
            self._refresh_child(child)

    def _refresh_child(self, child: str) -> None:
        addr = self._read(child)
        with self._lock:
            if addr is None:
                self._view.pop(child, None)
            else:
                self._view[child] = addr

    def _read(self, child: str) -> str | None:
        try:
            data, _ = self._client.get(f"{self._path}/{child}", watch=self._on_data)
        except NoNodeError:
            return None
        return data.decode("utf-8", "replace")

    # Kazoo callbacks (kazoo's threads): enqueue only.

    def _on_children(self, event) -> None:
        self._events.put(_CHILDREN)

    def _on_data(self, event) -> None:
        if event.path:
            self._events.put(("data", event.path.rsplit("/", 1)[-1]))

    def _on_state(self, state) -> None:
        if state == KazooState.LOST:
            log.warning("zk session lost; will re-register %s on reconnect", self._path)
        elif state == KazooState.SUSPENDED:
            log.warning("zk connection suspended")
        elif state == KazooState.CONNECTED:
            self._events.put(_RESYNC)

    # The worker thread.

    def _run(self) -> None:
        period_s = self._config.registration_period_s
        next_check = time.monotonic() + period_s
        resync_pending = False
        while True:
            try:
                event = self._events.get(timeout=max(0.0, next_check - time.monotonic()))
            except queue.Empty:
                event = _RESYNC if resync_pending else None
            if event == _STOP:
                return
            try:
                if event is None or event == _RESYNC:
                    self._repair()
                    if event == _RESYNC:
                        self._refresh_all()
                        resync_pending = False
                    next_check = time.monotonic() + period_s
                elif event == _CHILDREN:
                    self._refresh_children()
                else:
                    self._refresh_child(event[1])
            except Exception as err:
                if self._closed:
                    return
                if isinstance(err, KazooException):
                    log.warning("zk discovery %s: %r; resyncing shortly", self._path, err)
                else:
                    log.exception("zk discovery %s: unexpected error; resyncing shortly",
                                  self._path)
                resync_pending = True
                next_check = time.monotonic() + min(period_s, self._config.delay_s)
