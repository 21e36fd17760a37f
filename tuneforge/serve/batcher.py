"""Adaptive micro-batching for one loaded model version.

Requests wait in a queue on the event loop. A collector on the event loop takes the first waiting request, then
more until `max_batch` texts or `max_wait_ms` have passed, and hands the batch to the version's own
worker thread. While that thread computes, new requests pile up, so the next batch is larger: batch size
follows load by itself. `max_wait_ms` bounds what a request that finds the queue empty after a busy batch pays
for the chance of company; a request after a batch of one (a lone caller, an idle server) or one with others
already queued behind it pays no wait at all.

Within a batch, texts are sorted by length and cut into sub-batches, so each sub-batch pads only to its
own longest item (padding a 5-word sentence to a 60-word neighbour wastes most of the compute).
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

PredictFn = Callable[..., list[dict]]  # predict(texts, batch_size=None) -> one dict per text


class Batcher:
    def __init__(self, predict: PredictFn, *, max_batch: int = 32, max_wait_ms: float = 5.0, sub_batch: int = 16,
                 observe_batch: Callable[[int], None] = lambda n: None,
                 set_depth: Callable[[int], None] = lambda n: None, name: str = "model"):
        self.predict = predict
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self.sub_batch = max(1, sub_batch)
        self.observe_batch, self.set_depth = observe_batch, set_depth
        self.depth = 0  # texts waiting, not yet taken into a batch
        self._last_batch = 1  # texts in the previous batch: 1 means low load, so the next one goes without waiting
        self._task: asyncio.Task | None = None
        # One thread per version: predictions of one version never overlap, and the event loop never blocks.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"predict-{name}")

    def start(self) -> None:
        self._items: deque = deque()
        self._arrived = asyncio.Event()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, texts: list[str]) -> list[dict]:
        if self._task is None or self._stopping:
            raise RuntimeError("this model version is shutting down")
        fut = asyncio.get_running_loop().create_future()
        self._items.append((texts, fut))
        self.depth += len(texts)
        self.set_depth(self.depth)
        self._arrived.set()
        return await fut

    async def stop(self) -> None:
        """Answer everything already queued, then end the collector and the worker thread."""
        if self._task is not None:
            self._stopping = True
            self._arrived.set()
            await self._task
        self._pool.shutdown(wait=True)

    async def _wait_for_arrival(self, timeout: float | None) -> bool:
        # Waiting on an Event, never on queue.get() under wait_for: a timed-out wait can then never lose
        # a request, it stays in the deque.
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._items:
                if self._stopping:
                    return
                await self._wait_for_arrival(None)
                continue
            batch = [self._items.popleft()]
            n = len(batch[0][0])
            # Waiting for company only pays when company is coming but not here yet: after a busy batch (the
            # previous one had company) with nobody queued behind this request. Requests that queued while
            # the worker computed go at once: holding them back would idle the worker.
            lone = not self._items
            deadline = loop.time() + (self.max_wait if self._last_batch > 1 and lone else 0.0)
            while n < self.max_batch:
                if not self._items:
                    remaining = deadline - loop.time()
                    if self._stopping or remaining <= 0 or not await self._wait_for_arrival(remaining):
                        break
                    continue
                if n + len(self._items[0][0]) > self.max_batch:
                    break  # it stays first in line and opens the next batch
                item = self._items.popleft()
                batch.append(item)
                n += len(item[0])
            self.depth -= n
            self.set_depth(self.depth)
            texts = [t for item, _ in batch for t in item]
            self._last_batch = len(texts)
            self.observe_batch(len(texts))
            try:
                preds = await loop.run_in_executor(self._pool, self._predict_sorted, texts)
            except Exception as e:  # the requests of this batch fail; the collector lives on
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            at = 0
            for item, fut in batch:
                if not fut.done():  # a caller that went away has a cancelled future
                    fut.set_result(preds[at:at + len(item)])
                at += len(item)

    def _predict_sorted(self, texts: list[str]) -> list[dict]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list = [None] * len(texts)
        for s in range(0, len(order), self.sub_batch):
            idx = order[s:s + self.sub_batch]
            for i, p in zip(idx, self.predict([texts[i] for i in idx], batch_size=len(idx))):
                out[i] = p
        return out
