"""Load on every store at once: 32 readers and 4 writers through one mount for a while, every byte
read compared with its source, every operation timed, the daemon's memory and descriptors sampled
before, during and after."""

import os
import random
import threading
import time
import uuid

from common import MiB, Mount, make_source, sh, wait_until

READERS = 32
WRITERS = 4
# A whole image of 8 MiB (32 MiB in the long run) read or written, on two cores shared with the
# backends: anything past this is an operation left unanswered.
OPERATION_BOUND = 60.0
# Idle after the load: within this long, RSS back within this much of what it was before.
IDLE_SECONDS = 40
IDLE_GROWTH_KIB = 96 * 1024


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = {}
        self.slowest = {}
        self.compared = 0
        self.corrupt = 0
        self.errors = []
        self.over_bound = 0

    def op(self, kind, seconds, compared=0, corrupt=0):
        with self.lock:
            self.ops[kind] = self.ops.get(kind, 0) + 1
            self.slowest[kind] = max(self.slowest.get(kind, 0), seconds)
            self.compared += compared
            self.corrupt += corrupt
            if seconds > OPERATION_BOUND:
                self.over_bound += 1

    def error(self, what):
        with self.lock:
            self.errors.append(what)


def differing(a, b):
    """Bytes that differ between what was read and what the source holds (a short read counts)."""
    if a == b:
        return 0
    return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))


def read_whole(path, source, tally, kind):
    started = time.monotonic()
    compared = corrupt = 0
    with open(path, "rb", buffering=0) as f, open(source, "rb", buffering=0) as s:
        while True:
            got, want = f.read(MiB), s.read(MiB)
            if not got and not want:
                break
            compared += len(want)
            corrupt += differing(got, want)
    tally.op(kind, time.monotonic() - started, compared, corrupt)


def read_random(path, source, size, tally, kind, rng):
    """16 reads of 64 KiB at random offsets (qemu-img's pattern more than cat's)."""
    started = time.monotonic()
    compared = corrupt = 0
    fd, sfd = os.open(path, os.O_RDONLY), os.open(source, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for _ in range(16):
            offset = rng.randrange(0, size - 65536)
            got, want = os.pread(fd, 65536, offset), os.pread(sfd, 65536, offset)
            compared += len(want)
            corrupt += differing(got, want)
    finally:
        os.close(fd)
        os.close(sfd)
    tally.op(kind, time.monotonic() - started, compared, corrupt)


def reader(mount, images, deadline, tally, seed):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        store, name, source, size = rng.choice(images)
        try:
            if rng.random() < 0.7:
                read_whole(mount.path(store, name), source, tally, f"read {store}")
            else:
                read_random(mount.path(store, name), source, size, tally, f"random {store}", rng)
        except OSError as e:
            tally.error(f"reading {store}/{name}: {e}")


def writer(mount, stores, sources, deadline, tally, seed):
    rng = random.Random(seed)
    n = 0
    while time.monotonic() < deadline:
        store = stores[(seed + n) % len(stores)]
        source = sources[n % len(sources)]
        n += 1
        name = f"load-{uuid.uuid4().hex[:12]}"
        path = mount.path(store, name)
        try:
            started = time.monotonic()
            with open(source, "rb") as s, open(path, "wb") as f:
                while True:
                    block = s.read(MiB)
                    if not block:
                        break
                    f.write(block)
            tally.op(f"write {store}", time.monotonic() - started)
            read_whole(path, source, tally, f"read back {store}")
            started = time.monotonic()
            os.unlink(path)
            tally.op(f"rm {store}", time.monotonic() - started)
        except OSError as e:
            tally.error(f"writing {store}/{name}: {e}")
        rng.random()


def descriptors(pid):
    """The daemon's descriptors: files (images, staging) and the rest (sockets, pipes, events)."""
    files = other = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/") and not target.startswith("/dev/"):
            files += 1
        else:
            other += 1
    return files, other


def run(result, env):
    n, s, c = env.nginx(), env.swift(), env.ceph()
    per_store = 4 if env.short else 8
    size = 8 * MiB if env.short else 32 * MiB
    pool = c.make_pool("l" + uuid.uuid4().hex[:8])
    container = "load-" + uuid.uuid4().hex[:8]
    sources_dir = os.path.join(env.work, "load-sources")
    os.makedirs(sources_dir, exist_ok=True)
    mount = Mount(env.binary, env.work, {
        "web": ("http", n.store_options()), "ceph": ("rbd", c.store_options(pool)),
        "obj": ("swift", s.store_options(container))})
    images = []
    for k in range(per_store):
        name = f"img-{uuid.uuid4().hex[:8]}"
        source = os.path.join(sources_dir, name)
        make_source(source, size, 100 + k)
        sh(f"cp {source} {mount.datadir('local')}/{name}", check=True)
        n.put(name, source)
        s.put(container, name, source)
        sh(f"rbd -c {c.conf} import --no-progress {source} {pool}/{name}", check=True)
        images += [(store, name, source, size) for store in ("local", "web", "ceph", "obj")]
    write_sources = []
    for k in range(2):
        path = os.path.join(sources_dir, f"w{k}")
        make_source(path, size, 200 + k)
        write_sources.append(path)
    mount.start()
    try:
        sh(f"ls -l {mount.mnt}/*", check=True)
        time.sleep(1)
        files_before, other_before = descriptors(mount.pid)
        rss_before = mount.rss_kib()
        tally = Tally()
        samples = []
        started = time.monotonic()
        deadline = started + env.load_seconds
        threads = [threading.Thread(target=reader, args=(mount, images, deadline, tally, k), daemon=True) for k in range(READERS)]
        threads += [threading.Thread(target=writer, args=(mount, ["local", "ceph", "obj"], write_sources, deadline, tally, k), daemon=True)
                    for k in range(WRITERS)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if time.monotonic() > deadline + OPERATION_BOUND + 30:
                break
            samples.append((time.monotonic() - started, mount.rss_kib(), *descriptors(mount.pid)))
            time.sleep(1)
        hung = [t for t in threads if t.is_alive()]
        time.sleep(5)  # what was in flight settles
        files_after, other_after = descriptors(mount.pid)
        rss_after = mount.rss_kib()
        # Idle, the daemon gives back to the system what the load made it allocate (IdleMemory).
        idle_bound = rss_before + IDLE_GROWTH_KIB
        idle_since = time.monotonic()
        wait_until(IDLE_SECONDS, lambda: mount.rss_kib() <= idle_bound, 1)
        rss_idle, idle_seconds = mount.rss_kib(), time.monotonic() - idle_since

        total = sum(tally.ops.values())
        result.figure("seconds", env.load_seconds)
        result.figure("operations", total)
        result.figure("bytes_compared_mib", tally.compared // MiB)
        result.figure("corrupt_bytes", tally.corrupt)
        result.figure("errors", len(tally.errors))
        result.figure("slowest_op_seconds", max(tally.slowest.values(), default=0.0))
        result.figure("rss_mib_before_peak_after", f"{rss_before // 1024}/{max(x[1] for x in samples) // 1024}/{rss_after // 1024}")
        result.figure("rss_mib_idle", rss_idle // 1024)
        result.figure("rss_idle_seconds", round(idle_seconds, 1))
        result.figure("fds_files_before_peak_after", f"{files_before}/{max(x[2] for x in samples)}/{files_after}")
        result.figure("fds_other_before_peak_after", f"{other_before}/{max(x[3] for x in samples)}/{other_after}")
        result.note("slowest by operation: " + ", ".join(f"{k} {v:.1f} s ({tally.ops[k]})" for k, v in sorted(tally.slowest.items())))
        result.check("every kind of operation ran on every store", len(tally.ops) == 4 * 2 + 3 * 3, sorted(tally.ops))
        result.check("zero corrupt bytes", tally.corrupt == 0 and tally.compared > 0, f"{tally.corrupt} of {tally.compared}")
        result.check("no operation failed", not tally.errors, tally.errors[:3])
        result.check(f"no operation unanswered past {OPERATION_BOUND:.0f} s", tally.over_bound == 0 and not hung,
                     f"{tally.over_bound} slow, {len(hung)} threads still waiting")
        result.check("the daemon survived", mount.process.poll() is None)
        result.check("no image or staging file left open once the load ended", files_after == files_before,
                     f"{files_before} -> {files_after}")
        # Sockets stay pooled for a minute (60 s idle timeout): bounded, not back to zero.
        result.check("sockets and pipes stay bounded (connection pools)", other_after <= other_before + 48,
                     f"{other_before} -> {other_after}")
        result.check(f"idle again, the daemon gives memory back within {IDLE_SECONDS} s (RSS within {IDLE_GROWTH_KIB // 1024} MiB of before the load)",
                     rss_idle <= idle_bound, f"{rss_before // 1024} -> {rss_idle // 1024} MiB")
        half = len(samples) // 2
        first = sum(x[1] for x in samples[:half]) / max(1, half)
        second = sum(x[1] for x in samples[half:]) / max(1, len(samples) - half)
        result.figure("rss_growth_second_half_pct", round(100 * (second - first) / max(1, first), 1))
        result.check("memory does not grow under steady load (second half within 20 % + 16 MiB of the first)",
                     second <= first * 1.2 + 16 * 1024, f"{first / 1024:.0f} -> {second / 1024:.0f} MiB")
    finally:
        mount.stop()
