"""How long the whole machine waited on its disk while a run was under way.

    python3 bench/io-stalls.py &  ...  kill -TERM $!

Samples the kernel's pressure stall information for I/O (`/proc/pressure/io`, the `full`
line: time in which every task that wanted to run waited on I/O) every 20 ms until it is
told to stop, then prints two numbers in milliseconds: the stall in all, and the longest
stretch of samples that were at least half stalled. Every hop of an order waits on a durable
write, so a stall of the disk is a pause of the whole pipeline, and a run's tail latency
cannot be shorter than its longest stall (bench/RESULTS.md, the eighth and tenth rounds).
Prints nothing where the kernel has no pressure information.
"""
import signal
import sys
import time


def full_stall_microseconds():
    with open("/proc/pressure/io") as pressure:
        for line in pressure:
            if line.startswith("full"):
                return int(line.rsplit("total=", 1)[1])
    raise OSError("no 'full' line")


try:
    first = previous = full_stall_microseconds()
except OSError:
    sys.exit(0)  # nothing to say; bench/run.sh then writes "? ?"

stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
longest = stretch = 0.0
last = time.monotonic()
while not stopping:
    time.sleep(0.02)
    now, stalled = time.monotonic(), full_stall_microseconds()
    interval = (now - last) * 1e6
    if stalled - previous >= interval / 2:
        stretch += interval
        longest = max(longest, stretch)
    else:
        stretch = 0.0
    last, previous = now, stalled
print(f"{(previous - first) / 1000:.0f} {longest / 1000:.0f}")
