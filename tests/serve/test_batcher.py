"""Micro-batching with a real trained model: concurrent requests share batches, sub-batches are cut from
length-sorted texts, and every answer equals the one-at-a-time answer."""

from __future__ import annotations

import asyncio

import pytest

from tuneforge.serve.backends import load_backend
from tuneforge.serve.batcher import Batcher

WORDS = ["good", "awful", "lovely", "boring", "great", "terrible"]


def texts(n: int) -> list[str]:
    return [f"the {['movie', 'plot', 'cast'][i % 3]} was {'very ' * (i % 9)}{WORDS[i % 6]} {i}" for i in range(n)]


@pytest.fixture(scope="module")
def backend(tiny_runs):
    return load_backend(tiny_runs[0])


def run(coro):
    return asyncio.run(coro)


def same(a: dict, b: dict) -> bool:
    # padding to a longer neighbour changes float sums in the last digits only (the mask hides the pads)
    return a["label"] == b["label"] and all(abs(a["probabilities"][k] - b["probabilities"][k]) < 1e-4
                                            for k in a["probabilities"])


def test_concurrent_requests_share_batches_and_answer_as_alone(backend):
    xs = texts(48)
    alone = [backend.predict([t])[0] for t in xs]
    sizes, calls = [], []

    def predict(batch, batch_size=None):
        calls.append([len(t) for t in batch])
        return backend.predict(batch, batch_size=batch_size)

    async def main():
        b = Batcher(predict, max_batch=16, max_wait_ms=50, sub_batch=4, observe_batch=sizes.append)
        b.start()
        out = await asyncio.gather(*(b.submit([t]) for t in xs))
        await b.stop()
        return out

    out = run(main())
    assert sum(sizes) == 48 and max(sizes) > 1 and max(sizes) <= 16
    assert all(len(c) <= 4 for c in calls)
    assert all(o[0]["text"] == t for o, t in zip(out, xs))  # each caller gets its own answer
    assert all(same(o[0], a) for o, a in zip(out, alone))
    # within a batch the sub-batches are cut from length-sorted texts: no call mixes short and long
    # texts that another call of the same batch sits between
    at = 0
    for size in sizes:
        n_calls, got = 0, 0
        while got < size:
            got += len(calls[at + n_calls])
            n_calls += 1
        lengths = [calls[at + k] for k in range(n_calls)]
        flat = [x for c in lengths for x in c]
        assert flat == sorted(flat)
        at += n_calls


def test_a_request_larger_than_max_batch_goes_whole_in_order(backend):
    big, small = texts(10), ["the plot was good"]

    async def main():
        b = Batcher(backend.predict, max_batch=4, max_wait_ms=20, sub_batch=3)
        b.start()
        out = await asyncio.gather(b.submit(small), b.submit(big), b.submit(small))
        await b.stop()
        return out

    a, bigout, c = run(main())
    assert [p["text"] for p in bigout] == big and a[0]["text"] == c[0]["text"] == small[0]


def test_a_failing_batch_fails_its_callers_and_the_batcher_lives_on(backend):
    def predict(batch, batch_size=None):
        if any("boom" in t for t in batch):
            raise ValueError("cannot predict boom")
        return backend.predict(batch, batch_size=batch_size)

    async def main():
        b = Batcher(predict, max_batch=8, max_wait_ms=1)
        b.start()
        with pytest.raises(ValueError, match="boom"):
            await b.submit(["boom"])
        out = await b.submit(["the cast was lovely"])
        await b.stop()
        return out

    assert run(main())[0]["text"] == "the cast was lovely"


def test_stop_answers_everything_already_queued(backend):
    async def main():
        b = Batcher(backend.predict, max_batch=4, max_wait_ms=10_000)  # it would wait 10 s for company
        b.start()
        pending = [asyncio.ensure_future(b.submit([t])) for t in texts(10)]
        await asyncio.sleep(0)
        await asyncio.wait_for(b.stop(), 60)  # stopping does not wait out max_wait_ms
        return [p.result() for p in pending]

    assert len(run(main())) == 10


def test_a_lone_request_pays_no_wait_but_one_after_a_busy_batch_waits_for_company(backend):
    sizes = []

    async def main():
        b = Batcher(backend.predict, max_batch=4, max_wait_ms=10_000, observe_batch=sizes.append)
        b.start()
        # an idle server: two lone callers one after the other, each answered without the 10 s wait
        for t in texts(2):
            await asyncio.wait_for(b.submit([t]), 5)
        # four at once make a batch of four; after it, a request waits for the three that follow it
        await asyncio.gather(*(b.submit([t]) for t in texts(4)))
        first = asyncio.ensure_future(b.submit(["the plot was good"]))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(b.submit([t])) for t in texts(3)]
        await asyncio.wait_for(asyncio.gather(first, *rest), 60)
        await b.stop()

    run(main())
    assert sizes == [1, 1, 4, 4]
