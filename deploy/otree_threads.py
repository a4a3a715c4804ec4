"""oTree's websocket messages sent from its worker threads go out on the server's event loop.

The bug (oTree 6.0.15): oTree serves participant pages in a worker thread (``run_in_threadpool``) while the request
holds its global lock (``otree.middleware.lock2``). Those pages tell the admin's Monitor (and a wait page's group)
what changed through ``otree.channels.utils.ChannelLayer.sync_send``, which, finding no event loop in the thread,
runs ``asyncio.run(send)`` there: a second event loop, in the worker thread, writing to websockets that belong to
the server's loop. When a Monitor websocket is in its handshake at that moment (the experimenter opens the Monitor
or the SplitScreen view while participants load pages), uvicorn's send waits on the connection's
``handshake_completed_event``; the wait binds that event to the worker's loop, the server's loop sets it later from
its own thread, and the worker's loop, asleep in ``select()`` with nothing to wake it, never sees it. The page never
returns, so the global lock is never released: every later request of every participant and of the admin waits
for ever. Measured on the hung prodserver: the worker thread sits in ``asyncio.run`` under ``sync_send``
(``py-spy dump``), ``lock2`` is held with every later request queued behind it, and the worker's loop holds an
``asyncio.Event`` that is set with its waiter (Starlette's ``send_text``) never woken. tests/security/
test_server_threads.py reproduces it in process (deterministic) and against a real prodserver.

The fix: :func:`install` makes ``sync_send`` hand the message to the loop the websockets joined their groups on
(``loop.call_soon_threadsafe`` via ``asyncio.run_coroutine_threadsafe``), fire-and-forget as oTree does on the loop
itself; on that loop, or before any websocket joined, oTree's own code runs. ``settings.py`` calls
:func:`install_on_import` (devserver and prodserver alike).

:func:`dump_stacks_on` makes a signal (SIGUSR1) write every thread's stack into the server's log: what a hung server
is doing, without a debugger (harness/local.py ``OTreeServer.dump_stacks``).
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import signal
from types import ModuleType
from typing import Any

from deploy.import_hook import after_import

CHANNELS_MODULE = "otree.channels.utils"
APP_MODULE = "otree.asgi"   # imported by uvicorn once oTree is loaded (otree.channels.utils imports settings.py)
_LOOP_ATTR = "_study_server_loop"


def install(module: ModuleType) -> None:
    """Patch ``module.ChannelLayer`` (oTree's ``otree.channels.utils``) once: thread-safe ``sync_send``."""
    layer = module.ChannelLayer
    if getattr(layer, "_study_thread_safe", False):
        return
    original_add, original_sync_send = layer.add, layer.sync_send

    def add(self: Any, group: str, websocket: Any) -> None:
        try:
            setattr(self, _LOOP_ATTR, asyncio.get_running_loop())   # websockets join on the server's loop
        except RuntimeError:
            pass
        original_add(self, group, websocket)

    def sync_send(self: Any, group: str, data: dict[str, Any]) -> None:
        loop: asyncio.AbstractEventLoop | None = getattr(self, _LOOP_ATTR, None)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop is running or loop.is_closed():
            original_sync_send(self, group, data)
            return
        asyncio.run_coroutine_threadsafe(self.send(group, data), loop)

    layer.add, layer.sync_send = add, sync_send
    layer._study_thread_safe = True


def install_on_import() -> None:
    """Patch oTree's channel layer when the server imports oTree's app (``otree.asgi``; now, if it already has).
    Not on the import of ``otree.channels.utils`` itself: that module imports settings.py, half-way through."""
    after_import(APP_MODULE, lambda app: install(importlib.import_module(CHANNELS_MODULE)), key=__name__)


def dump_stacks_on(signum: int = signal.SIGUSR1) -> None:
    """On ``signum``, write the stack of every thread to stderr (the server's log), and go on running."""
    if hasattr(faulthandler, "register"):
        faulthandler.register(signum, all_threads=True, chain=False)
