"""Faults injected into real backends while the mount works on them: a backend that dies or hangs
under a reader or a writer, the daemon killed or stopped with I/O in flight, stores that fill up."""

import errno
import os
import signal
import time
import uuid

from common import (MiB, Mount, Reader, Writer, errno_name, make_source, sh, sha256_file, timed,
                    wait_until)

# The bounds the issue sets: a refused backend fails a user's whole operation within 15 s; a hung
# one within its timeout plus 5 s. Once it answers again, the same mount reads again within 15 s.
REFUSED_BOUND = 15.0
HUNG_SLACK = 5.0
RECOVERY_BOUND = 15.0
OTHERS_BOUND = 2.0


class Target:
    """A backend under a store, and how to hurt it. `kind`: the store type; `options`: the store's
    option lines; `seed(name, source)` puts an image there by the backend's own means;
    `leftovers()` lists what an interrupted write left there (none expected once cleaned up)."""

    def __init__(self, label, kind, options, seed, answers, kill, freeze, thaw, relaunch, names=None,
                 leftovers=None, refusal_is_a_timeout=False):
        self.label, self.kind, self.options, self.seed = label, kind, options, seed
        self.answers, self.kill, self.freeze, self.thaw, self.relaunch = answers, kill, freeze, thaw, relaunch
        self.names, self.leftovers = names, leftovers
        # librados retries a connection to a dead OSD until the operation's timeout: its refusal is
        # seen only as a timeout, and bound as one.
        self.refusal_is_a_timeout = refusal_is_a_timeout

    def refused_bound(self, timeout):
        return max(REFUSED_BOUND, timeout + HUNG_SLACK) if self.refusal_is_a_timeout else REFUSED_BOUND


def fresh_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def mount_with(env, target, timeout):
    return Mount(env.binary, env.work, {"remote": (target.kind, target.options + f"\nstorefs_timeout = {timeout}")}).start()


def others_answer(result, mount, label):
    """While the backend is down: the root and the file store answer, quickly."""
    status, seconds, err = timed(f"ls {mount.mnt}")
    result.figure(f"{label}_root_ls_seconds", seconds)
    result.check(f"{label}: the root answers within {OTHERS_BOUND} s", status == 0 and seconds < OTHERS_BOUND, f"{status} {seconds:.2f} s {err}")
    status, seconds, err = timed(f"cat {mount.path('local', 'ok')}")
    result.check(f"{label}: the file store answers within {OTHERS_BOUND} s", status == 0 and seconds < OTHERS_BOUND, f"{status} {seconds:.2f} s {err}")


def read_dies(result, env, target, mode, size, timeout):
    """A reader is halfway through an image when the backend is killed (mode `refused`) or stopped
    (`hung`); then the same mount must read again once the backend is back."""
    source = os.path.join(env.work, fresh_name("src"))
    digest = make_source(source, size, 1)
    image = fresh_name("img")
    target.seed(image, source)
    os.unlink(source)
    mount = mount_with(env, target, timeout)
    try:
        with open(os.path.join(mount.datadir("local"), "ok"), "w") as f:
            f.write("ok\n")
        path = mount.path("remote", image)
        reader = Reader(path, rate=env.read_rate)
        reader.start()
        if not wait_until(60, lambda: reader.done >= size // 4 or reader.finished.is_set()):
            raise RuntimeError("the reader did not get going")
        result.figure("read_before_fault_mib", reader.done // MiB)
        injected = time.monotonic()
        (target.kill if mode == "refused" else target.freeze)()
        bound = target.refused_bound(timeout) if mode == "refused" else timeout + HUNG_SLACK
        reader.finished.wait(bound + 60)
        if target.label == "ceph mon":
            # The monitor is not on the data path: an open image keeps reading from the OSD.
            result.check("the reader finishes, with the right bytes", reader.error is None and reader.digest.hexdigest() == digest,
                         f"errno {errno_name(reader.error)}, {reader.done} bytes")
            status, seconds, err = timed(f"stat -f {mount.path('remote')}")
            result.figure("statfs_seconds", seconds)
            result.check(f"statfs (the monitor's figures) fails within {bound:.0f} s", status != 0 and seconds < bound, f"{status} {seconds:.2f} s {err}")
            status, seconds, err = timed(f"cat {path} > /dev/null")
            result.check("reading the image again works meanwhile", status == 0, err)
        else:
            seconds = (reader.failed_at or time.monotonic()) - injected
            result.figure("eio_seconds", seconds)
            result.check(f"the reader gets EIO within {bound:.0f} s", reader.error == errno.EIO and seconds < bound,
                         f"{errno_name(reader.error)} after {seconds:.2f} s")
            status, seconds, err = timed(f"cat {path} > /dev/null", timeout=bound + 60)
            result.figure("next_cat_seconds", seconds)
            result.check(f"a new `cat` fails within {bound:.0f} s", status != 0 and seconds < bound, f"{status} {seconds:.2f} s {err}")
            status, seconds, err = timed(f"ls {mount.path('remote')}", timeout=bound + 60)
            result.figure("next_ls_seconds", seconds)
            result.check(f"`ls` of the store fails within {bound:.0f} s", status != 0 and seconds < bound, f"{status} {seconds:.2f} s {err}")
        others_answer(result, mount, "while down")
        (target.relaunch if mode == "refused" else target.thaw)()
        if not wait_until(90, target.answers, 0.2):
            raise RuntimeError(f"{target.label} did not come back")
        back = time.monotonic()
        recovered = wait_until(90, lambda: sha256_file(path) == digest, 0.25)
        seconds = time.monotonic() - back
        result.figure("recovery_seconds", seconds)
        result.check(f"the same mount reads the image again within {RECOVERY_BOUND:.0f} s of the backend answering",
                     recovered and seconds < RECOVERY_BOUND, f"{seconds:.2f} s")
        result.check("the daemon is still running", mount.process.poll() is None)
    finally:
        mount.stop()


def auth_dies(result, env, target, mode, timeout):
    """A control-plane service (Keystone; Cinder's API) is down (killed: `refused`; stopped: `hung`)
    when the mount first needs it; then it comes back."""
    # Down before the mount starts: it looks for leftovers of interrupted uploads in the background
    # at once, and would otherwise hold a token before the fault.
    (target.kill if mode == "refused" else target.freeze)()
    mount = mount_with(env, target, timeout)
    try:
        with open(os.path.join(mount.datadir("local"), "ok"), "w") as f:
            f.write("ok\n")
        bound = REFUSED_BOUND if mode == "refused" else timeout + HUNG_SLACK
        status, seconds, err = timed(f"ls {mount.path('remote')}", timeout=bound + 60)
        result.figure("eio_seconds", seconds)
        result.check(f"`ls` of the store fails with EIO within {bound:.0f} s",
                     status != 0 and "Input/output error" in err and seconds < bound, f"{seconds:.2f} s {err}")
        others_answer(result, mount, "while down")
        (target.relaunch if mode == "refused" else target.thaw)()
        if not wait_until(60, target.answers, 0.2):
            raise RuntimeError(f"{target.label} did not come back")
        back = time.monotonic()
        recovered = wait_until(60, lambda: sh(f"ls {mount.path('remote')}")[0] == 0, 0.25)
        seconds = time.monotonic() - back
        result.figure("recovery_seconds", seconds)
        result.check(f"the same mount lists the store within {RECOVERY_BOUND:.0f} s of {target.label} answering",
                     recovered and seconds < RECOVERY_BOUND, f"{seconds:.2f} s")
    finally:
        mount.stop()


def write_dies(result, env, target, size, timeout, mode="refused"):
    """A writer is halfway through a copy when the backend is killed (mode `refused`) or stopped
    (`hung`: it no longer reads what is sent): the writer gets EIO, nothing appears under the name,
    and what was written is removed once the backend is back."""
    source = os.path.join(env.work, fresh_name("src"))
    make_source(source, size, 2)
    image = fresh_name("new")
    mount = mount_with(env, target, timeout)
    try:
        writer = Writer(source, mount.path("remote", image), size, rate=env.write_rate)
        writer.start()
        if not wait_until(60, lambda: writer.done >= size // 3 or writer.finished.is_set()):
            raise RuntimeError("the writer did not get going")
        result.figure("written_before_fault_mib", writer.done // MiB)
        injected = time.monotonic()
        (target.kill if mode == "refused" else target.freeze)()
        bound = target.refused_bound(timeout) if mode == "refused" else timeout + HUNG_SLACK
        writer.finished.wait(bound + 60)
        seconds = (writer.failed_at or time.monotonic()) - injected
        result.figure("eio_seconds", seconds)
        result.check(f"the writer gets EIO within {bound:.0f} s", writer.error == errno.EIO and seconds < bound,
                     f"{errno_name(writer.error)} after {seconds:.2f} s")
        (target.relaunch if mode == "refused" else target.thaw)()
        if not wait_until(90, target.answers, 0.2):
            raise RuntimeError(f"{target.label} did not come back")
        back = time.monotonic()
        result.check("nothing under the image's name", image not in target.names(), "")
        # rbd: an image written when the OSD died keeps its watch for the OSD's watch timeout (30 s)
        cleaned = wait_until(90, lambda: not [n for n in target.leftovers() if image in n], 0.5)
        result.figure("leftovers_removed_seconds", time.monotonic() - back)
        result.check("the mount removes what the write left, once the backend answers", cleaned,
                     ", ".join(target.leftovers()))
        status, _, err = sh(f"ls {mount.path('remote')}")
        result.check("the same mount lists the store again", status == 0, err)
    finally:
        mount.stop()
        os.unlink(source)


def daemon_killed(result, env, target, size, leftovers_reported):
    """kill -9 of the daemon mid-write: nothing under the image's name; the next start removes or
    reports what the write left (`leftovers_reported`: the log line that says so, or None when the
    store leaves nothing at all)."""
    source = os.path.join(env.work, fresh_name("src"))
    make_source(source, size, 3)
    image = fresh_name("new")
    mount = mount_with(env, target, 10)
    try:
        writer = Writer(source, mount.path("remote", image), size, rate=env.write_rate)
        writer.start()
        if not wait_until(60, lambda: writer.done >= size // 3 or writer.finished.is_set()):
            raise RuntimeError("the writer did not get going")
        os.kill(mount.pid, signal.SIGKILL)
        writer.finished.wait(30)
        result.check("the writer fails", writer.error is not None, errno_name(writer.error))
        mount.stop()
        result.check("nothing under the image's name", image not in target.names())
        left = [n for n in target.leftovers() if image in n]
        result.figure("leftovers_after_kill", len(left))
        mount.start()
        time.sleep(1.5)
        status, out, err = sh(f"ls {mount.path('remote')}")
        result.check("the next mount lists the store without the image", status == 0 and image not in out.split(), err)
        if leftovers_reported is None:
            result.check("the store holds nothing of the write", not left, ", ".join(left))
        else:
            reported = wait_until(20, lambda: leftovers_reported in mount.log, 0.5)
            result.check(f"the next start reports what the write left ({len(left)})", bool(left) and reported,
                         f"{left} / log has it: {reported}")
    finally:
        mount.stop()
        os.unlink(source)


def unmount_in_flight(result, env, remotes, size):
    """Reads and writes on every store when the daemon gets SIGTERM: a clean exit, the mount gone,
    nothing published, no partial data left; then `fusermount3 -uz` (lazy) with I/O in flight: the
    I/O finishes, then the daemon exits."""
    source = os.path.join(env.work, fresh_name("src"))
    digest = make_source(source, size, 4)
    for way in ("SIGTERM", "fusermount3 -uz"):
        mount = Mount(env.binary, env.work, {k: (t.kind, t.options) for k, t in remotes.items()}).start()
        names = {}
        try:
            readers, writers = [], []
            seeded = fresh_name("seed")
            for store, target in remotes.items():
                if target.seed:
                    target.seed(seeded, source)
                    readers.append(Reader(mount.path(store, seeded), rate=env.read_rate))
                if target.names:
                    names[store] = fresh_name("new")
                    writers.append((store, Writer(source, mount.path(store, names[store]), size, rate=env.write_rate)))
            with open(os.path.join(mount.datadir("local"), seeded), "wb") as f, open(source, "rb") as s:
                f.write(s.read())
            readers.append(Reader(mount.path("local", seeded), rate=env.read_rate))
            names["local"] = fresh_name("new")
            writers.append(("local", Writer(source, mount.path("local", names["local"]), size, rate=env.write_rate)))
            for r in readers:
                r.start()
            for _, w in writers:
                w.start()
            wait_until(60, lambda: all(r.done >= size // 4 for r in readers) and all(w.done >= size // 4 for _, w in writers))
            if way == "SIGTERM":
                started = time.monotonic()
                os.kill(mount.pid, signal.SIGTERM)
                try:
                    code = mount.process.wait(60)
                except Exception:
                    code = None
                seconds = time.monotonic() - started
                result.figure("sigterm_exit_seconds", seconds)
                result.check("SIGTERM: the daemon exits 0 within 35 s", code == 0 and seconds < 35, f"exit {code} after {seconds:.1f} s")
                result.check("SIGTERM: the mount is gone", not mount.mounted)
                for r in readers:
                    r.finished.wait(30)
                for _, w in writers:
                    w.finished.wait(30)
                result.check("SIGTERM: every reader and writer got an error, none hangs",
                             all(r.finished.is_set() for r in readers) and all(w.finished.is_set() and w.error for _, w in writers),
                             [errno_name(w.error) for _, w in writers])
                for store, target in list(remotes.items()) + [("local", None)]:
                    if store not in names:
                        continue
                    present = names[store] in (target.names() if target else os.listdir(mount.datadir("local")))
                    result.check(f"SIGTERM: nothing published in {store}", not present)
                    if target and target.leftovers:
                        left = [n for n in target.leftovers() if names[store] in n]
                        result.check(f"SIGTERM: nothing left of the write in {store}", not left, left)
                result.check("SIGTERM: the log names the writes given up", "not published" in mount.log)
            else:
                status, _, err = sh(f"fusermount3 -u {mount.mnt}")
                result.check("fusermount3 -u with files open is refused (busy)", status != 0 and "busy" in err.lower(), err)
                status, _, err = sh(f"fusermount3 -uz {mount.mnt}")
                result.check("fusermount3 -uz detaches at once", status == 0 and not mount.mounted, err)
                for r in readers:
                    r.finished.wait(120)
                for _, w in writers:
                    w.finished.wait(120)
                result.check("-uz: every reader finishes with the right bytes",
                             all(r.error is None and r.digest.hexdigest() == digest for r in readers),
                             [errno_name(r.error) for r in readers])
                result.check("-uz: every writer finishes", all(w.error is None and w.closed for _, w in writers),
                             [errno_name(w.error) for _, w in writers])
                try:
                    code = mount.process.wait(60)
                except Exception:
                    code = None
                result.check("-uz: the daemon then exits 0", code == 0, f"exit {code}")
                for store, target in list(remotes.items()) + [("local", None)]:
                    if store in names:
                        present = names[store] in (target.names() if target else os.listdir(mount.datadir("local")))
                        result.check(f"-uz: the image written to {store} is published", present)
            result.check(f"{way}: no daemon left", mount.process.poll() is not None)
        finally:
            mount.stop()
    os.unlink(source)


def out_of_space(result, env, label, target, size, expected_errno, contents):
    """A write that does not fit: the writer gets `expected_errno`, nothing is published, and the
    store holds what it held before (`contents()`: names and what they hold, by the backend's means)."""
    source = os.path.join(env.work, fresh_name("src"))
    make_source(source, size, 5)
    image = fresh_name("big")
    mount = mount_with(env, target, 10)
    try:
        before = contents()
        writer = Writer(source, mount.path("remote", image), size, rate=env.write_rate)
        writer.start()
        writer.finished.wait(300)
        result.figure("refused_after_mib", writer.done // MiB)
        result.check(f"{label}: the writer gets {errno_name(expected_errno)}", writer.error == expected_errno,
                     f"{errno_name(writer.error)} after {writer.done // MiB} MiB")
        status, out, _ = sh(f"ls {mount.path('remote')}")
        result.check(f"{label}: nothing published", status == 0 and image not in out.split(), out)
        # A Ceph pool over its quota takes the removal of what was written in two steps (see
        # RBDImageWriter): the data, then, once the monitors saw the room made, the rest.
        after = wait_until(90, lambda: contents() == before, 0.5)
        result.check(f"{label}: the store holds what it held before", after, f"{sorted(before)} / {sorted(contents())}")
    finally:
        mount.stop()
        os.unlink(source)
