"""The disk as every durable commit meets it: 8 KiB written and fdatasync'ed in a loop.

    python3 bench/disk-pauses.py SECONDS DIRECTORY

Prints one line: the syncs' median and 99th percentile, and the pauses over 20 ms (how many,
the longest). A pause of the disk holds up every commit of PostgreSQL and of the quorum
queues, so a run's tail latency depends on it (bench/RESULTS.md, the eighth round).
"""
import os
import sys
import time

seconds, directory = float(sys.argv[1]), sys.argv[2]
path = os.path.join(directory, "disk-pauses.tmp")
block = b"x" * 8192
latencies = []
descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
try:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        os.pwrite(descriptor, block, (len(latencies) % 1000) * len(block))
        os.fdatasync(descriptor)
        latencies.append((time.perf_counter() - start) * 1000)
finally:
    os.close(descriptor)
    os.unlink(path)
pauses = [latency for latency in latencies if latency > 20]
latencies.sort()
print(
    f"{len(latencies)} syncs, p50 {latencies[len(latencies) // 2]:.2f} ms, p99 {latencies[int(len(latencies) * 0.99)]:.2f} ms; "
    f"{len(pauses)} pauses over 20 ms" + (f", the longest {max(pauses):.0f} ms" if pauses else "")
)
