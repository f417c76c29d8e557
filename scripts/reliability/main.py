"""glance-storefs under faults, load and bad input: runs the cases of the groups asked for against
real backends started by the project's own scripts, and prints one table (or, with --json, one
JSON line per case for the test suite, which asserts every check).

    main.py --binary PATH [--short] [--json] [--case TEXT] [GROUP...]   groups: see GROUPS (default: all)
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faults  # noqa: E402
import load  # noqa: E402
import names  # noqa: E402
import secrets_case  # noqa: E402
from common import MiB, Ceph, Cinder, Keystone, Nginx, Swift, VCSim, run_case, sh  # noqa: E402
from faults import Target  # noqa: E402


class Environment:
    """The run's settings and its backends, each started on first use and stopped at the end."""

    def __init__(self, binary, work, short):
        self.binary, self.work, self.short = binary, work, short
        # Short: what the test suite runs; long: what RELIABILITY.md records.
        # Larger than what the drivers read ahead (swift: 40 MiB past the reader), so a fault
        # a quarter of the way in comes before the end of what was fetched.
        self.size = 96 * MiB if short else 512 * MiB
        self.timeout = 3 if short else 10
        self.read_rate = self.write_rate = 16 * MiB if short else 32 * MiB
        self.load_seconds = 60 if short else 600
        self._backends = {}

    def backend(self, name, make):
        if name not in self._backends:
            self._backends[name] = make()
        return self._backends[name]

    def nginx(self):
        return self.backend("nginx", lambda: Nginx(self.work))

    def swift(self):
        return self.backend("swift", lambda: Swift(self.work))

    def keystone(self):
        return self.backend("keystone", lambda: Keystone(self.work, self.swift()))

    def ceph(self):
        # Bluestore: the OSD is killed and started again, and must come back with its data.
        return self.backend("ceph", lambda: Ceph(self.work, bluestore=True))

    def cinder(self):
        return self.backend("cinder", lambda: Cinder(self.work, self.ceph(), self.keystone()))

    def vcsim(self):
        return self.backend("vcsim", lambda: VCSim(self.work))

    def stop(self):
        for name in ("cinder", "keystone", "swift", "nginx", "ceph", "vcsim"):
            if name in self._backends:
                try:
                    self._backends[name].stop()
                except Exception as e:
                    print(f"stopping {name}: {e}", file=sys.stderr)

    # Targets: a backend as the fault cases see it.

    def nginx_target(self):
        n = self.nginx()
        return Target("nginx", "http", n.store_options(), seed=n.put, answers=n.answers, kill=n.kill,
                      freeze=n.freeze, thaw=n.thaw, relaunch=n.relaunch)

    def swift_target(self, container=None, user="test:tester"):
        s = self.swift()
        container = container or "c-" + uuid.uuid4().hex[:8]
        return Target("swift proxy", "swift", s.store_options(container, user),
                      seed=lambda name, source: s.put(container, name, source, user), answers=s.answers,
                      kill=s.kill, freeze=s.freeze, thaw=s.thaw, relaunch=s.relaunch,
                      names=lambda: s.objects(container, user), leftovers=lambda: s.objects(container, user))

    def keystone_target(self):
        k = self.keystone()
        return Target("keystone", "swift", k.store_options("c-" + uuid.uuid4().hex[:8]), seed=None,
                      answers=k.answers, kill=k.kill, freeze=k.freeze, thaw=k.thaw, relaunch=k.relaunch)

    def rbd_target(self, daemon="osd", pool=None):
        c = self.ceph()
        pool = pool or c.make_pool("p" + uuid.uuid4().hex[:8])
        return Target(f"ceph {daemon}", "rbd", c.store_options(pool),
                      seed=lambda name, source: sh(f"rbd -c {c.conf} import --no-progress {source} {pool}/{name}", check=True),
                      answers=c.answers, kill=lambda: c.kill(daemon), freeze=lambda: c.freeze(daemon),
                      thaw=lambda: c.thaw(daemon), relaunch=lambda: c.relaunch(daemon),
                      names=lambda: c.images(pool), leftovers=lambda: c.images(pool), refusal_is_a_timeout=True)

    def cinder_target(self, backend="rbd"):
        c = self.cinder()
        volume_type = c.make_type(backend)
        images = lambda: [n[len("image-"):] for n in c.volume_names(volume_type) if n.startswith("image-")]
        return Target("cinder-api", "cinder", c.store_options(volume_type),
                      seed=lambda name, source: c.tool("seed", volume_type, name, source), answers=c.answers,
                      kill=c.kill, freeze=c.freeze, thaw=c.thaw, relaunch=c.relaunch, names=images,
                      leftovers=lambda: [n for n in c.volume_names(volume_type) if not n.startswith("image-")])

    def vmware_target(self):
        v = self.vcsim()
        directory = "d-" + uuid.uuid4().hex[:8]
        return Target("vcsim", "vmware", v.store_options(directory) + "\nvmware_api_retry_count = 2",
                      seed=lambda name, source: v.put(directory, name, source), answers=v.answers,
                      kill=v.kill, freeze=v.freeze, thaw=v.thaw, relaunch=v.relaunch,
                      names=lambda: [n for n in v.files(directory) if not n.startswith(".")],
                      leftovers=lambda: [n for n in v.files(directory) if n.startswith(".storefs-partial.")])

    def file_target(self):
        datadir = tempfile.mkdtemp(prefix="datadir-", dir=self.work)
        return Target("local disk", "file", f"filesystem_store_datadir = {datadir}", seed=None, answers=None, kill=None,
                      freeze=None, thaw=None, relaunch=None, names=lambda: os.listdir(datadir),
                      leftovers=lambda: [n for n in os.listdir(datadir) if n.startswith(".")])


# Groups of cases: (case name, function(result, env)).

def http_cases(env):
    return [(f"read/nginx/{mode}", lambda r, m=mode: faults.read_dies(r, env, env.nginx_target(), m, env.size, env.timeout))
            for mode in ("refused", "hung")]


def swift_cases(env):
    return [(f"read/swift-proxy/{mode}", lambda r, m=mode: faults.read_dies(r, env, env.swift_target(), m, env.size, env.timeout))
            for mode in ("refused", "hung")] + [
        ("write/swift-proxy/refused", lambda r: faults.write_dies(r, env, env.swift_target(), env.size, env.timeout)),
        ("kill-9/swift", lambda r: faults.daemon_killed(r, env, env.swift_target(), env.size, "segments without a manifest")),
        ("full/swift-account-quota", lambda r: swift_quota(r, env)),
    ]


def keystone_cases(env):
    return [(f"auth/keystone/{mode}", lambda r, m=mode: faults.auth_dies(r, env, env.keystone_target(), m, env.timeout))
            for mode in ("refused", "hung")]


def rbd_cases(env):
    return [(f"read/ceph-osd/{mode}", lambda r, m=mode: faults.read_dies(r, env, env.rbd_target("osd"), m, env.size, env.timeout))
            for mode in ("refused", "hung")] + [
        ("read/ceph-mon/refused", lambda r: faults.read_dies(r, env, env.rbd_target("mon"), "refused", env.size, env.timeout)),
        ("read/ceph-mon/hung", lambda r: faults.read_dies(r, env, env.rbd_target("mon"), "hung", env.size, env.timeout)),
        ("write/ceph-osd/refused", lambda r: faults.write_dies(r, env, env.rbd_target("osd"), env.size, env.timeout)),
        ("kill-9/rbd", lambda r: faults.daemon_killed(r, env, env.rbd_target(), env.size, "an image is being written")),
        ("full/ceph-pool-quota", lambda r: ceph_quota(r, env)),
    ]


def cinder_cases(env):
    # Cinder's API is the control plane: dead, it fails the store's listings, opens and writes within
    # their bound, while data already attached flows on (the volumes' own transport is rbd's, above).
    return [(f"api/cinder-api/{mode}", lambda r, m=mode: faults.auth_dies(r, env, env.cinder_target(), m, env.timeout))
            for mode in ("refused", "hung")] + [
        ("kill-9/cinder", lambda r: faults.daemon_killed(r, env, env.cinder_target(), env.size, "a partial image's volume")),
    ]


def vmware_cases(env):
    return [(f"read/vcsim/{mode}", lambda r, m=mode: faults.read_dies(r, env, env.vmware_target(), m, env.size, env.timeout))
            for mode in ("refused", "hung")] + [
        ("write/vcsim/refused", lambda r: faults.write_dies(r, env, env.vmware_target(), env.size, env.timeout)),
        ("write/vcsim/hung", lambda r: faults.write_dies(r, env, env.vmware_target(), env.size, env.timeout, "hung")),
        ("kill-9/vmware", lambda r: faults.daemon_killed(r, env, env.vmware_target(), env.size, "a partial upload")),
    ]


def file_cases(env):
    return [
        ("kill-9/file", lambda r: faults.daemon_killed(r, env, env.file_target(), env.size, None)),
        ("full/file-tmpfs", lambda r: file_full(r, env)),
    ]


def unmount_cases(env):
    return [("unmount/in-flight", lambda r: faults.unmount_in_flight(
        r, env, {"web": env.nginx_target(), "ceph": env.rbd_target(), "obj": env.swift_target()}, env.size // 2))]


def load_cases(env):
    return [("load/all-stores", lambda r: load.run(r, env))]


def names_cases(env):
    return [(f"names/{kind}", lambda r, k=kind: names.run(r, env, k)) for kind in ("file", "http", "swift", "rbd")]


def secrets_cases(env):
    return [("secrets/all", lambda r: secrets_case.run(r, env))]


def fuzz_cases(env):
    return [("fuzz/parsers", lambda r: fuzz(r, env))]


GROUPS = {"http": http_cases, "swift": swift_cases, "keystone": keystone_cases, "rbd": rbd_cases, "cinder": cinder_cases, "vmware": vmware_cases,
          "file": file_cases, "unmount": unmount_cases, "load": load_cases, "names": names_cases,
          "secrets": secrets_cases, "fuzz": fuzz_cases}


# Out-of-space set-ups ----------------------------------------------------------------------------

def file_full(result, env):
    """A file store on a 64 MiB tmpfs, holding one 8 MiB image; a 96 MiB copy into it."""
    import hashlib
    fs = tempfile.mkdtemp(prefix="tmpfs-", dir=env.work)
    sh(f"mount -t tmpfs -o size=64m storefs-test {fs}", check=True)
    try:
        with open(os.path.join(fs, "keep"), "wb") as f:
            f.write(os.urandom(8 * MiB))
        target = Target("tmpfs", "file", f"filesystem_store_datadir = {fs}", None, None, None, None, None, None)

        def contents():
            return {n: hashlib.sha256(open(os.path.join(fs, n), "rb").read()).hexdigest() for n in os.listdir(fs)}
        env_rate, env.write_rate = env.write_rate, 256 * MiB
        try:
            faults.out_of_space(result, env, "file store on a full tmpfs", target, 96 * MiB, __import__("errno").ENOSPC, contents)
        finally:
            env.write_rate = env_rate
    finally:
        sh(f"umount {fs}")


def ceph_quota(result, env):
    """A pool with a 48 MiB quota holding one 8 MiB image; a 400 MiB copy into it (the monitors flag
    the pool full some seconds after its usage passed the quota: Ceph overshoots)."""
    c = env.ceph()
    pool = c.make_pool("q" + uuid.uuid4().hex[:8])
    keep = os.path.join(env.work, "keep-" + uuid.uuid4().hex[:8])
    with open(keep, "wb") as f:
        f.write(os.urandom(8 * MiB))
    sh(f"rbd -c {c.conf} import --no-progress {keep} {pool}/keep", check=True)
    os.unlink(keep)
    c.ceph(f"osd pool set-quota {pool} max_bytes {48 * MiB}")
    target = env.rbd_target(pool=pool)

    def contents():
        return c.image_sizes(pool)
    faults.out_of_space(result, env, "rbd store over its pool's quota", target, 400 * MiB, __import__("errno").EDQUOT, contents)


def swift_quota(result, env):
    """An account with a 48 MiB quota holding one 8 MiB object; a 400 MiB copy into it (Swift
    checks a request against the account's usage as its container-updater last reported it, a
    few seconds behind: it overshoots by what was written meanwhile)."""
    s = env.swift()
    container = "c-" + uuid.uuid4().hex[:8]
    keep = os.path.join(env.work, "keep-" + uuid.uuid4().hex[:8])
    with open(keep, "wb") as f:
        f.write(os.urandom(8 * MiB))
    s.put(container, "keep", keep, user="quota:tester")
    os.unlink(keep)
    status, _, body = s.request("POST", "", user="reseller:admin", account="AUTH_quota",
                                headers={"X-Account-Meta-Quota-Bytes": str(48 * MiB)})
    if status not in (200, 204):
        raise RuntimeError(f"setting the account quota: HTTP {status} {body[:200]}")
    target = env.swift_target(container, user="quota:tester")

    def contents():
        return sorted(s.objects(container, "quota:tester"))
    try:
        faults.out_of_space(result, env, "swift store over its account's quota", target, 400 * MiB, __import__("errno").EDQUOT,
                            lambda: set(contents()))
    finally:
        s.request("POST", "", user="reseller:admin", account="AUTH_quota", headers={"X-Remove-Account-Meta-Quota-Bytes": "x"})


def fuzz(result, env):
    """The parsers under libFuzzer (scripts/fuzz.sh): runs, and crashes found."""
    runs = 100_000 if env.short else 1_000_000
    status, out, err = sh(f"bash {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}/fuzz.sh {runs}", timeout=7200)
    for line in out.splitlines():
        if line.startswith("fuzz "):
            _, target, executed, crashes = line.split()
            result.figure(f"{target}_runs", int(executed))
            result.check(f"{target}: {runs} inputs or more, no crash, no hang", int(executed) >= runs and crashes == "0",
                         f"{executed} runs, {crashes} crashes")
    result.check("the fuzzers ran", status == 0, err[-300:])


# The table -------------------------------------------------------------------------------------

def table(results):
    lines = ["| case | result | figures | failed checks |", "| --- | --- | --- | --- |"]
    for r in results:
        figures = ", ".join(f"{k} {v}" for k, v in r.figures.items())
        failed = "; ".join(f"{c['check']} ({c['seen']})" for c in r.checks if not c["ok"])
        lines.append(f"| {r.case} | {'ok' if r.ok else 'FAILED'} ({sum(c['ok'] for c in r.checks)}/{len(r.checks)}) | {figures} | {failed} |")
    return "\n".join(lines)


def main():
    # Whoever started us may have blocked signals (a test runner's threads do): the daemons started
    # from here must get the SIGTERM that stops them.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # Stopped (a test runner's timeout, Ctrl-C): the backends and mounts of the run go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--short", action="store_true", help="the test suite's versions")
    parser.add_argument("--json", action="store_true", help="one JSON line per case")
    parser.add_argument("--work", default="/var/tmp")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) for a look")
    parser.add_argument("--case", default="", help="only the cases whose name holds this text")
    parser.add_argument("groups", nargs="*")
    args = parser.parse_args()
    groups = args.groups or [g for g in GROUPS if g != "fuzz" or not args.short]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; groups: {', '.join(GROUPS)}")
    work = tempfile.mkdtemp(prefix="storefs-reliability-", dir=args.work)
    os.chmod(work, 0o755)  # nginx's workers (user nobody) serve files below it
    env = Environment(os.path.abspath(args.binary), work, args.short)
    results = []
    try:
        for group in groups:
            for case, body in GROUPS[group](env):
                if args.case not in case:
                    continue
                result = run_case(case, body)
                results.append(result)
                if args.json:
                    print(result.json(), flush=True)
                else:
                    print(f"{case}: {'ok' if result.ok else 'FAILED'} {result.figures}", file=sys.stderr, flush=True)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        env.stop()
        with open("/proc/self/mountinfo") as f:
            left = [line.split()[4] for line in f if line.split()[4].startswith(work + "/")]
        for mountpoint in reversed(left):  # a mount a failed case left: never the run's end
            sh(f"fusermount3 -uz {mountpoint} || umount -l {mountpoint}")
        if args.keep:
            print(f"kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not args.json:
        print(table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
