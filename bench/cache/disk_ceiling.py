"""What this machine's disk accepts, with no server in the way: 1 MiB files written by
several threads at once (as concurrent uploads would be), each fsynced before close, and
the same without fsync (page cache only). Prints two numbers in MiB/s as
`durable=<n> buffered=<n>`. Usage: disk_ceiling.py DIR [SECONDS] [WRITERS (8)]"""
import os
import sys
import threading
import time

directory = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
block = os.urandom(1 << 20)


def measure(fsync, writers):
    done = [0] * writers
    deadline = time.monotonic() + seconds

    def write(n):
        i = 0
        while time.monotonic() < deadline:
            path = os.path.join(directory, f"{n}-{i}")
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
            os.write(fd, block)
            if fsync:
                os.fdatasync(fd)
            os.close(fd)
            done[n] += 1
            i += 1
            if i % 32 == 0:  # keep the directory small; deletes are part of the cost
                for j in range(i - 32, i):
                    os.unlink(os.path.join(directory, f"{n}-{j}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    return sum(done) / elapsed


writers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
durable = measure(True, writers)
buffered = max(measure(False, w) for w in (1, 2))
print(f"durable={durable:.0f} buffered={buffered:.0f}")
