"""What every reliability case shares: results, timing, processes, the mount, and the backends the
project's own scripts start (scripts/test-*.sh), with the faults a case injects into them."""

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "scripts")
MiB = 1 << 20


# Results -----------------------------------------------------------------------------------------

class Result:
    """One case: the figures it measured and the checks it made (each with what was seen)."""

    def __init__(self, case):
        self.case = case
        self.figures = {}
        self.checks = []
        self.notes = []

    def figure(self, name, value):
        self.figures[name] = round(value, 2) if isinstance(value, float) else value
        return value

    def check(self, name, ok, seen=""):
        self.checks.append({"check": name, "ok": bool(ok), "seen": str(seen)})
        return ok

    def note(self, text):
        self.notes.append(text)

    @property
    def ok(self):
        return bool(self.checks) and all(c["ok"] for c in self.checks)

    def json(self):
        return json.dumps({"case": self.case, "ok": self.ok, "figures": self.figures, "checks": self.checks,
                           "notes": self.notes})


def run_case(case, body, *args):
    """Runs one case; an exception is a failed check of its own, never a lost case."""
    result = Result(case)
    try:
        body(result, *args)
    except Exception as e:  # a case that breaks says so in its row
        result.check("case ran to its end", False, f"{type(e).__name__}: {e}")
    return result


# Processes ---------------------------------------------------------------------------------------

def sh(command, timeout=120, check=False, env=None):
    """A bash command line: (status, stdout, stderr)."""
    p = subprocess.run(["/bin/bash", "-c", command], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})}, errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError(f"{command!r} failed ({p.returncode}): {p.stderr.strip()[-400:]}")
    return p.returncode, p.stdout, p.stderr


def timed(command, timeout=120):
    """(status, seconds, stderr) of a bash command line."""
    start = time.monotonic()
    status, _, err = sh(command, timeout=timeout)
    return status, time.monotonic() - start, err.strip()


def wait_until(seconds, condition, step=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def children(pid):
    """Every descendant of pid (nginx's workers, ...)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
                        frontier.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def signal_tree(pid, sig):
    for p in [pid] + children(pid):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def kill_and_wait(pid, sig=signal.SIGKILL, seconds=10):
    signal_tree(pid, sig)
    return wait_until(seconds, lambda: not alive(pid))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Data --------------------------------------------------------------------------------------------

def make_source(path, size, seed):
    """A file of `size` pseudo-random bytes (the same for the same seed); its sha256."""
    rng = random.Random(seed)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            block = rng.randbytes(n)
            digest.update(block)
            f.write(block)
            left -= n
    return digest.hexdigest()


def sha256_file(path, timeout=None):
    """The sha256 of a file, or the errno that reading it failed with."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                block = f.read(MiB)
                if not block:
                    return digest.hexdigest()
                digest.update(block)
    except OSError as e:
        return e.errno


class Reader(threading.Thread):
    """Reads a file from the start in 1 MiB reads, at most `rate` bytes a second, as a user's
    process would; records how far it got, when it failed and with which errno."""

    def __init__(self, path, rate=16 * MiB):
        super().__init__(daemon=True)
        self.path, self.rate = path, rate
        self.done = 0
        self.error = None
        self.failed_at = None
        self.digest = hashlib.sha256()
        self.finished = threading.Event()

    def run(self):
        start = time.monotonic()
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                while True:
                    block = os.pread(fd, MiB, self.done)
                    if not block:
                        break
                    self.digest.update(block)
                    self.done += len(block)
                    pace(start, self.done, self.rate)
            finally:
                os.close(fd)
        except OSError as e:
            self.error = e.errno
            self.failed_at = time.monotonic()
        self.finished.set()


def pace(start, done, rate):
    """Sleeps until `done` bytes since `start` are no more than `rate` bytes a second."""
    ahead = done / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)


class Writer(threading.Thread):
    """Writes `size` bytes from `source` to `path` in 1 MiB writes at most `rate` bytes a second,
    then closes it (the close publishes); records how far it got and how it failed."""

    def __init__(self, source, path, size, rate=16 * MiB):
        super().__init__(daemon=True)
        self.source, self.path, self.size, self.rate = source, path, size, rate
        self.done = 0
        self.error = None
        self.failed_at = None
        self.closed = False
        self.finished = threading.Event()

    def run(self):
        start = time.monotonic()
        try:
            with open(self.source, "rb") as src:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    while self.done < self.size:
                        block = src.read(min(MiB, self.size - self.done))
                        os.write(fd, block)
                        self.done += len(block)
                        pace(start, self.done, self.rate)
                finally:
                    os.close(fd)
                    self.closed = True
        except OSError as e:
            self.error = e.errno
            self.failed_at = time.monotonic()
        self.finished.set()


def errno_name(code):
    return errno.errorcode.get(code, str(code)) if isinstance(code, int) else str(code)


# The mount ---------------------------------------------------------------------------------------

class Mount:
    """glance-storefs mounted in the foreground by this process, over a configuration of stores
    (`sections`: store id -> (type, option lines)); `local` is always a file store."""

    def __init__(self, binary, work, stores, debug=False, options=()):
        # STOREFS_RELIABILITY_DEBUG=1: every mount logs each request (--debug), for a look at a case.
        debug = debug or os.environ.get("STOREFS_RELIABILITY_DEBUG") == "1"
        self.binary, self.work, self.debug, self.options = binary, work, debug, list(options)
        self.dir = tempfile.mkdtemp(prefix="mount-", dir=work)
        self.mnt = os.path.join(self.dir, "mnt")
        self.config = os.path.join(self.dir, "glance-api.conf")
        self.log_path = os.path.join(self.dir, "daemon.log")
        os.makedirs(self.mnt)
        os.makedirs(self.datadir("local"))
        self.stores = {"local": ("file", f"filesystem_store_datadir = {self.datadir('local')}")}
        self.stores.update(stores)
        text = "[DEFAULT]\nenabled_backends = " + ", ".join(f"{i}:{t}" for i, (t, _) in self.stores.items())
        text += "\n[glance_store]\ndefault_backend = local\n"
        for store, (_, options) in self.stores.items():
            text += f"\n[{store}]\n{options}\n"
        text += f"\n[os_glance_staging_store]\nfilesystem_store_datadir = {self.dir}/staging\n"
        text += f"\n[os_glance_tasks_store]\nfilesystem_store_datadir = {self.dir}/tasks\n"
        with open(self.config, "w") as f:
            f.write(text)
        self.process = None

    def datadir(self, store):
        return os.path.join(self.dir, "data", store)

    def path(self, store, image=""):
        return os.path.join(self.mnt, store, image) if image else os.path.join(self.mnt, store)

    def start(self):
        argv = [self.binary, "mount", "--config-file", self.config, self.mnt, "-f"]
        for option in self.options:
            argv += ["-o", option]
        if self.debug:
            argv.append("--debug")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        if not wait_until(15, lambda: self.mounted or self.process.poll() is not None):
            raise RuntimeError("the mount did not come up")
        if not self.mounted:
            raise RuntimeError(f"the mount failed: {self.log[-600:]}")
        return self

    @property
    def pid(self):
        return self.process.pid

    @property
    def mounted(self):
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == self.mnt for line in f)

    @property
    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def descriptors(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self):
        """Unmounts and waits for the daemon; ends it by PID if it does not go."""
        if self.mounted:
            sh(f"fusermount3 -u {self.mnt} || fusermount3 -uz {self.mnt}")
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.mounted:
            sh(f"fusermount3 -uz {self.mnt}")


# Backends ----------------------------------------------------------------------------------------

def script(name, *args, timeout=300):
    status, out, err = sh(" ".join(["bash", os.path.join(SCRIPTS, name)] + [str(a) for a in args]), timeout=timeout)
    if status != 0:
        raise RuntimeError(f"{name} {' '.join(map(str, args))}: {err.strip()[-500:]}")
    return out.strip()


def answers(url, timeout=2):
    """Whether an HTTP server answers at url (any status)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
        return True
    except urllib.error.HTTPError:
        return True
    except Exception:
        return False


class Daemons:
    """The faults a case injects into a backend's daemons, found by the PIDs its script recorded
    (`pid(name)`; `DAEMON` unless named): killed, stopped (SIGSTOP: there but silent), continued.
    Children go with their parent (nginx's workers)."""

    DAEMON = None

    def kill(self, name=None):
        kill_and_wait(self.pid(name or self.DAEMON))

    def freeze(self, name=None):
        signal_tree(self.pid(name or self.DAEMON), signal.SIGSTOP)

    def thaw(self, name=None):
        signal_tree(self.pid(name or self.DAEMON), signal.SIGCONT)

    def thaw_all(self, names):
        for name in names:
            try:
                self.thaw(name)
            except OSError:
                pass


class Nginx(Daemons):
    """scripts/test-nginx.sh: serves DIR/www/html at /html/ (and /json/, the index the store reads)."""

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=work)
        os.chmod(self.dir, 0o755)
        self.port = int(script("test-nginx.sh", "start", self.dir).split()[0])
        self.html = os.path.join(self.dir, "www", "html")

    def pid(self, name=None):
        with open(os.path.join(self.dir, "nginx.pid")) as f:
            return int(f.read())

    def store_options(self):
        return f"storefs_index_url = http://127.0.0.1:{self.port}/json/"

    def put(self, name, source):
        shutil.copy(source, os.path.join(self.html, name))
        os.chmod(os.path.join(self.html, name), 0o644)

    def answers(self):
        return answers(f"http://127.0.0.1:{self.port}/html/")

    def relaunch(self):
        script("test-nginx.sh", "relaunch", self.dir)

    def stop(self):
        self.thaw_all(["nginx"])
        script("test-nginx.sh", "stop", self.dir)


class Swift(Daemons):
    """scripts/test-swift.sh: a single-node Swift; its proxy is what the faults hit."""

    DAEMON = "proxy"

    SECRET_KEY = "swift-key-7Qe3vR"  # secret:tester's (test-swift.sh)

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="swift-", dir=work)
        # Account usage that follows the writes: the account quota case needs it.
        os.environ["STOREFS_SWIFT_ACCOUNT_USAGE"] = "1"
        self.port = int(script("test-swift.sh", "start", self.dir).split()[0])
        self.auth = f"http://127.0.0.1:{self.port}/auth/v1.0"

    def pid(self, name="proxy"):
        with open(os.path.join(self.dir, "log", name + ".pid")) as f:
            return int(f.read())

    def store_options(self, container, user="test:tester"):
        return (f"swift_store_auth_address = {self.auth}\nswift_store_user = {user}\nswift_store_key = testing\n"
                f"swift_store_auth_version = 1\nswift_store_container = {container}\n"
                "swift_store_create_container_on_put = true\n"
                "swift_store_large_object_size = 8\nswift_store_large_object_chunk_size = 4")

    def token(self, user="test:tester"):
        key = self.SECRET_KEY if user == "secret:tester" else "testing"
        request = urllib.request.Request(self.auth, headers={"X-Auth-User": user, "X-Auth-Key": key})
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]

    def request(self, method, path, user="test:tester", data=None, headers=None, account=None):
        token, url = self.token(user)
        if account:
            url = url.rsplit("/", 1)[0] + "/" + account
        request = urllib.request.Request(url + ("/" + path if path else ""), method=method, data=data,
                                         headers={"X-Auth-Token": token, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def put(self, container, name, source, user="test:tester"):
        self.request("PUT", container, user)
        with open(source, "rb") as f:
            status, _, body = self.request("PUT", f"{container}/{name}", user, data=f.read())
        if status != 201:
            raise RuntimeError(f"PUT {container}/{name}: {status} {body[:200]}")

    def objects(self, container, user="test:tester"):
        status, _, body = self.request("GET", container + "?format=json", user)
        if status == 404:
            return []
        if status != 200 and status != 204:
            raise RuntimeError(f"GET {container}: {status}")
        return [o["name"] for o in json.loads(body or b"[]")]

    def answers(self):
        return answers(f"http://127.0.0.1:{self.port}/healthcheck")

    def relaunch(self, name="proxy"):
        script("test-swift.sh", "relaunch", self.dir, name)
        wait_until(20, self.answers, 0.1)

    def stop(self):
        self.thaw_all(["proxy"])
        script("test-swift.sh", "stop", self.dir)


class Keystone(Daemons):
    """scripts/test-keystone.sh over a Swift: Keystone, and a proxy that trusts it."""

    DAEMON = "keystone"

    def __init__(self, work, swift):
        self.dir = tempfile.mkdtemp(prefix="keystone-", dir=work)
        ports = script("test-keystone.sh", "start", self.dir, swift.dir).split()
        self.port, self.proxy_port = int(ports[0]), int(ports[1])
        self.auth = f"http://127.0.0.1:{self.port}/v3"

    def store_options(self, container):
        return (f"swift_store_auth_address = {self.auth}\nswift_store_user = images:glance\n"
                f"swift_store_key = glancepw\nswift_store_auth_version = 3\nswift_store_container = {container}\n"
                "swift_store_create_container_on_put = true")

    def pid(self, name):
        with open(os.path.join(self.dir, "log", name + ".pid")) as f:
            return int(f.read())

    def answers(self):
        return answers(f"http://127.0.0.1:{self.port}/v3")

    def relaunch(self):
        script("test-keystone.sh", "relaunch", self.dir, "keystone")
        wait_until(30, self.answers, 0.2)

    def stop(self):
        script("test-keystone.sh", "stop", self.dir)


class VCSim(Daemons):
    """scripts/test-vcsim.sh: govmomi's vCenter simulator with two datastores."""

    DAEMON = "vcsim"
    PASSWORD = "vcsim-secret-Pw4x"

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="vcsim-", dir=work)
        self.port = int(script("test-vcsim.sh", "start", self.dir).split()[0])

    def pid(self, name):
        with open(os.path.join(self.dir, "log", name + ".pid")) as f:
            return int(f.read())

    def answers(self):
        return sh(f"curl -s -o /dev/null --max-time 2 --cacert {self.dir}/tls/ca.pem https://127.0.0.1:{self.port}/about")[0] == 0

    def relaunch(self):
        script("test-vcsim.sh", "relaunch", self.dir)
        wait_until(30, self.answers, 0.2)

    def files(self, directory):
        """What the datastores hold in an image directory (the simulator keeps them as plain files)."""
        found = []
        for n in (0, 1):
            path = os.path.join(self.dir, "datastores", f"LocalDS_{n}", directory)
            found += os.listdir(path) if os.path.isdir(path) else []
        return found

    def put(self, directory, name, source):
        sh(f"curl -sf --cacert {self.dir}/tls/ca.pem -u storefs:{self.PASSWORD} -T {source} "
           f"'https://127.0.0.1:{self.port}/folder/{directory}/{name}?dcPath=DC0&dsName=LocalDS_0'", check=True)

    def store_options(self, directory, password=PASSWORD):
        return (f"vmware_server_host = 127.0.0.1:{self.port}\nvmware_server_username = storefs\n"
                f"vmware_server_password = {password}\nvmware_ca_file = {self.dir}/tls/ca.pem\n"
                f"vmware_store_image_dir = /{directory}\nvmware_datastores = DC0:LocalDS_0\n"
                "vmware_datastores = DC0:LocalDS_1:5")

    def stop(self):
        script("test-vcsim.sh", "stop", self.dir)


class Ceph(Daemons):
    """scripts/test-ceph.sh: one mon, one mgr, one OSD. Bluestore (on a sparse file) when the OSD
    is to be killed and started again: memstore would come back empty."""

    DAEMON = "osd"

    def __init__(self, work, bluestore=False):
        self.dir = tempfile.mkdtemp(prefix="ceph-", dir=work)
        env = "CEPH_OBJECTSTORE=bluestore " if bluestore else ""
        status, out, err = sh(f"{env}bash {SCRIPTS}/test-ceph.sh start {self.dir}", timeout=180)
        if status != 0:
            raise RuntimeError(f"Ceph did not start: {err[-400:]}")
        self.conf = out.strip()

    def rbd(self, args, timeout=60):
        return sh(f"timeout {timeout} rbd -c {self.conf} {args}", timeout=timeout + 5)

    def ceph(self, args, timeout=60):
        return sh(f"timeout {timeout} ceph -c {self.conf} {args}", timeout=timeout + 5)

    def make_pool(self, name):
        self.ceph(f"osd pool create {name} 8 8")
        status, _, err = self.rbd(f"pool init {name}")
        if status != 0:
            raise RuntimeError(f"rbd pool init {name}: {err}")
        return name

    def images(self, pool):
        status, out, err = self.rbd(f"ls {pool}", timeout=30)
        if status != 0:
            raise RuntimeError(f"rbd ls {pool}: {err.strip()}")
        return out.split()

    def image_sizes(self, pool):
        # `rbd ls -l` lists, then opens each image: one removed meanwhile (the mount cleaning up
        # after a write) fails the whole listing; it is asked again.
        for _ in range(10):
            status, out, err = self.rbd(f"ls -l --format json {pool}", timeout=30)
            if status == 0:
                return {i["image"]: i["size"] for i in json.loads(out or "[]") if "snapshot" not in i}
            if "No such file or directory" not in err:
                break
            time.sleep(0.2)
        raise RuntimeError(f"rbd ls -l {pool}: {err.strip()}")

    def store_options(self, pool):
        return f"rbd_store_pool = {pool}\nrbd_store_ceph_conf = {self.conf}\nrbd_store_chunk_size = 4"

    def pid(self, daemon):
        name = {"osd": "osd.0", "mon": "mon.a"}[daemon]
        with open(os.path.join(self.dir, "run", name + ".pid")) as f:
            return int(f.read())

    def answers(self):
        """Whether the OSD serves the pool again (what the store's probe needs)."""
        status, out, _ = self.ceph("osd dump", timeout=10)
        return status == 0 and "osd.0 up" in out

    def relaunch(self, daemon="osd"):
        script("test-ceph.sh", "relaunch", self.dir, daemon)

    def stop(self):
        self.thaw_all(["osd", "mon"])
        script("test-ceph.sh", "stop", self.dir)


class Cinder(Daemons):
    """scripts/test-cinder.sh over a Ceph and a Keystone: Cinder's API, scheduler and volume service
    with RBD and NFS backends. Each target uses a volume type of its own (Tests/Interop/cinder_tool.py)."""

    DAEMON = "cinder-api"

    def __init__(self, work, ceph, keystone):
        self.dir = tempfile.mkdtemp(prefix="cinder-", dir=work)
        self.ceph, self.keystone = ceph, keystone
        self.port = int(script("test-cinder.sh", "start", self.dir, ceph.conf, keystone.dir, timeout=300).split()[-1])
        # The mounts' librados finds client.cinder's keyring through the cluster's conf.
        os.environ["CEPH_CONF"] = ceph.conf

    def tool(self, *args):
        tool = os.path.join(os.path.dirname(SCRIPTS), "Tests", "Interop", "cinder_tool.py")
        status, out, err = sh(" ".join(["/usr/bin/python3", tool, self.dir, self.keystone.dir, self.ceph.conf] + [str(a) for a in args]),
                              timeout=300)
        if status != 0:
            raise RuntimeError(f"cinder_tool {' '.join(map(str, args))}: {err.strip()[-500:]}")
        return out.strip()

    def make_type(self, backend):
        name = "r-" + uuid.uuid4().hex[:8]
        self.tool("type", name, backend + "-1")
        return name

    def volume_names(self, volume_type):
        return [v["name"] for v in json.loads(self.tool("volumes", volume_type))]

    def store_options(self, volume_type):
        return (f"cinder_store_auth_address = {self.keystone.auth}\ncinder_store_user_name = glance\n"
                f"cinder_store_password = glancepw\ncinder_store_project_name = images\n"
                f"cinder_volume_type = {volume_type}\ncinder_http_retries = 1\ncinder_state_transition_timeout = 60")

    def pid(self, name):
        with open(os.path.join(self.dir, "log", name + ".pid")) as f:
            return int(f.read())

    def answers(self):
        return answers(f"http://127.0.0.1:{self.port}/")

    def relaunch(self):
        script("test-cinder.sh", "relaunch", self.dir, "cinder-api")
        wait_until(60, self.answers, 0.2)

    def stop(self):
        self.thaw_all(["cinder-api"])
        script("test-cinder.sh", "stop", self.dir)
