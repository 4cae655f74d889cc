"""`BackgroundRunner`'s schedule: an idle runner polls ever less often (up to its idle
interval), a write elsewhere is still picked up within that interval, and a wake or a
read waiting for a position brings a pass at once. The runner it drives is a stand-in
that counts passes (the schedule is pure logic; the projection runner itself is tested
on real SQLite views elsewhere)."""

from __future__ import annotations

import asyncio
import time

from photoshare.streams.runner import BackgroundRunner


class CountingRunner:
    """Counts passes; `pending` events get applied by the next pass."""

    def __init__(self) -> None:
        self.passes, self.position, self.pending = 0, 0, 0

    def catch_up(self) -> int:
        self.passes += 1
        moved, self.pending = self.pending, 0
        self.position += moved
        return moved


async def started(runner: CountingRunner, **schedule: float) -> BackgroundRunner:
    background = BackgroundRunner(runner, **schedule)  # type: ignore[arg-type]
    await background.start()
    return background


def test_an_idle_runner_polls_ever_less_often() -> None:
    async def scenario() -> int:
        runner = CountingRunner()
        background = await started(runner, poll_seconds=0.05, idle_poll_seconds=0.4)
        runner.passes = 0
        await asyncio.sleep(1.6)  # 0.05 + 0.1 + 0.2 + 0.4 + 0.4 + 0.4: six passes
        await background.stop()
        return runner.passes

    passes = asyncio.run(scenario())
    assert 3 <= passes <= 9, passes  # polling every 0.05 s: 32


def test_a_write_elsewhere_is_picked_up_within_the_idle_interval() -> None:
    async def scenario() -> float:
        runner = CountingRunner()
        background = await started(runner, poll_seconds=0.05, idle_poll_seconds=0.4)
        await asyncio.sleep(1.0)  # backed off to the idle interval
        runner.pending = 3  # another process appended three events; nobody woke us
        written = time.monotonic()
        while runner.position < 3:
            await asyncio.sleep(0.01)
        await background.stop()
        return time.monotonic() - written

    assert asyncio.run(scenario()) < 0.4 + 0.2


def test_a_wake_or_a_waiting_read_brings_a_pass_at_once() -> None:
    async def scenario() -> tuple[float, float]:
        runner = CountingRunner()
        background = await started(runner, poll_seconds=0.05, idle_poll_seconds=30)
        await asyncio.sleep(1.0)  # backed off: the next poll is seconds away
        runner.pending = 1
        woken = time.monotonic()
        background.wake()
        while runner.position < 1:
            await asyncio.sleep(0.005)
        after_wake = time.monotonic() - woken
        await asyncio.sleep(1.0)
        runner.pending = 1
        asked = time.monotonic()
        assert await background.wait_for(2, timeout=5)
        after_wait = time.monotonic() - asked
        await background.stop()
        return after_wake, after_wait

    after_wake, after_wait = asyncio.run(scenario())
    assert after_wake < 0.2 and after_wait < 0.2, (after_wake, after_wait)
