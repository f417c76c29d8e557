"""Plants, in a real Glance started by scripts/test-glance.sh, the inconsistencies `audit` must find,
through Glance's API and then behind its back, and prints what was planted as one JSON object.

    glance_plant.py GLANCE_DIR [--with-rbd CEPH_CONF]   (the swift store's images too when Glance has one)
    glance_plant.py GLANCE_DIR --consistent N    N small consistent images in `fast` (the last one
                                                 hidden); prints their ids, plants nothing

Every image gets a fresh id; nothing here reads glance-storefs' code. Uses only Glance's API (as the
service user of DIR/glance-api.conf), the file stores' datadirs and `rbd`.
"""
import configparser, json, os, sys, time, urllib.request, uuid

glance_dir = sys.argv[1]
rbd_conf = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--with-rbd" else None
conf = configparser.ConfigParser(interpolation=None)
conf.read(os.path.join(glance_dir, "glance-api.conf"))
auth = conf["keystone_authtoken"]
port = conf["DEFAULT"]["bind_port"]
glance = f"http://127.0.0.1:{port}"
stores_dir = os.path.join(glance_dir, "stores")


def request(method, url, body=None, headers=None, raw=False):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as r:
        content = r.read()
        return r.headers, (content if raw else json.loads(content or b"{}"))


headers, _ = request("POST", auth["auth_url"] + "/v3/auth/tokens", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": auth["password"], "domain": {"name": "Default"}}}},
    "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}},
    {"Content-Type": "application/json"})
token = headers["X-Subject-Token"]


def api(method, path, body=None, content_type="application/json", extra=None):
    h = {"X-Auth-Token": token, "Content-Type": content_type}
    h.update(extra or {})
    return request(method, glance + path, body, h)[1]


def image(name, store, size, hidden=False):
    data = os.urandom(size)
    created = api("POST", "/v2/images", {"name": name, "disk_format": "raw", "container_format": "bare", "os_hidden": hidden})
    api("PUT", f"/v2/images/{created['id']}/file", data, "application/octet-stream", {"X-Image-Meta-Store": store})
    return created["id"], data


def show(image_id):
    return api("GET", f"/v2/images/{image_id}")


def copy(image_id, store):
    api("POST", f"/v2/images/{image_id}/import", {"method": {"name": "copy-image"}, "stores": [store]})


def wait(image_id, done, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        shown = show(image_id)
        if done(shown):
            return shown
        time.sleep(0.5)
    raise SystemExit(f"{what}: {image_id} is {show(image_id)}")


def wait_tasks(image_id, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        tasks = api("GET", f"/v2/images/{image_id}/tasks")["tasks"]
        if tasks and all(t["status"] in ("success", "failure") for t in tasks):
            return tasks
        time.sleep(0.5)
    raise SystemExit(f"the tasks of {image_id} did not end")


def path(store, image_id):
    return os.path.join(stores_dir, store, image_id)


def corrupt(file):
    with open(file, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xFF]))


if len(sys.argv) > 3 and sys.argv[2] == "--consistent":
    n = int(sys.argv[3])
    print(json.dumps([image(f"consistent-{i}", "fast", 1024, hidden=i == n - 1)[0] for i in range(n)]))
    sys.exit(0)

planted = {}
MiB = 1 << 20
# A: in fast, copied to slow with copy-image; then the slow copy deleted behind Glance's back.
a, _ = image("a-copied-then-lost", "fast", MiB)
copy(a, "slow")
wait(a, lambda s: set(s.get("stores", "").split(",")) == {"fast", "slow"}, "copy-image of A")
os.unlink(path("slow", a))
planted["missing"] = a
# B: in slow, its data corrupted with the same size.
b, _ = image("b-corrupted", "slow", MiB + 17)
corrupt(path("slow", b))
planted["corrupted"] = b
# C: in fast, grown behind Glance's back.
c, _ = image("c-grown", "fast", 300_000)
with open(path("fast", c), "ab") as f:
    f.write(b"0123456789")
planted["grown"] = c
# D: hidden, in fast and slow: consistent (the audit must see hidden images).
d, _ = image("d-hidden", "fast", 123_456, hidden=True)
copy(d, "slow")
wait(d, lambda s: set(s.get("stores", "").split(",")) == {"fast", "slow"}, "copy-image of D")
planted["hidden"] = d
# U: A's bytes copied into fast under a new id, never registered.
u = str(uuid.uuid4())
with open(path("fast", a), "rb") as src, open(path("fast", u), "wb") as dst:
    dst.write(src.read())
planted["unregistered"] = u
# F: in fast, corrupted (same size), then copied to slow: the copy fails its hash check.
f_id, _ = image("f-failed-copy", "fast", 2 * MiB)
corrupt(path("fast", f_id))
copy(f_id, "slow")
planted["failed_copy_tasks"] = wait_tasks(f_id)
planted["failed_copy"] = f_id
# G: in fast, its data deleted, then copied to slow: the task fails, the marker stays.
g, _ = image("g-stale-marker", "fast", 4096)
os.unlink(path("fast", g))
copy(g, "slow")
planted["stale_marker_tasks"] = wait_tasks(g)
planted["stale_marker"] = g
# A partial file of an interrupted glance-storefs write (a crash where O_TMPFILE is missing).
partial = ".glance-storefs-partial-" + uuid.uuid4().hex[:16]
with open(os.path.join(stores_dir, "fast", partial), "wb") as f:
    f.write(b"x" * 1000)
planted["partial"] = partial
if rbd_conf:
    # R: in ceph, copied to fast: consistent across the two types.
    r, _ = image("r-rbd", "ceph", MiB + 1)
    copy(r, "fast")
    wait(r, lambda s: set(s.get("stores", "").split(",")) == {"ceph", "fast"}, "copy-image of R")
    planted["rbd"] = r

swift_conf = os.path.join(glance_dir, "glance-swift.conf")
if os.path.exists(swift_conf):
    # W: in obj, over the segment size (a manifest and three segments), copied to slow: consistent.
    w, _ = image("w-swift", "obj", 2 * MiB + 5)
    copy(w, "slow")
    wait(w, lambda s: set(s.get("stores", "").split(",")) == {"obj", "slow"}, "copy-image of W")
    planted["swift"] = w
    # An upload cut short: two segments of a new id in the store's container, no manifest.
    ref = configparser.ConfigParser(interpolation=None)
    ref.read(swift_conf)
    h, _ = request("GET", ref["ref1"]["auth_address"], headers={"X-Auth-User": ref["ref1"]["user"], "X-Auth-Key": ref["ref1"]["key"]}, raw=True)
    segments = str(uuid.uuid4())
    for n in (1, 2):
        request("PUT", f"{h['X-Storage-Url']}/glance-audit/{segments}-0000{n}", b"s" * 1000, {"X-Auth-Token": h["X-Auth-Token"]}, raw=True)
    planted["segments"] = segments

planted["images"] = {i: show(i) for i in [a, b, c, d, f_id, g] + ([planted["rbd"]] if rbd_conf else [])
                     + ([planted["swift"]] if "swift" in planted else [])}
planted["staging"] = sorted(os.listdir(os.path.join(stores_dir, "staging")))
planted["slow_files"] = sorted(os.listdir(os.path.join(stores_dir, "slow")))
print(json.dumps(planted))
