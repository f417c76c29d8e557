"""Odd names held by a store: each is shown as it is and reads right, or is left out with one log
line; never a crash, never a path outside the store."""

import json
import os
import urllib.parse
import uuid

from common import Mount, sh

# (name, why it cannot be a file name or None). Bytes for what only a file store can hold.
NAMES = [
    ("with space", None),
    ("new\nline", None),
    ("tab\there", None),
    ("quote\"and'apostrophe", None),
    ("back\\slash", None),
    ("a" * 255, None),
    ("é" * 127, None),                      # 254 bytes of UTF-8
    ("Case", None),
    ("case", None),                         # differs from the one above only by case
    ("-starts-with-dash", None),
    (".starts-with-dot", None),
    ("b" * 256, "256 bytes"),
    ("dir/name", "a '/'"),
    ("../escape", "a '/'"),
    (".", "'.'"),
    ("..", "'..'"),
    (b"not-utf8-\xff\xfe", "not UTF-8"),
]


def content(name):
    raw = name if isinstance(name, bytes) else name.encode()
    return b"image named " + raw + b"\n"


def run(result, env, kind):
    """`kind`: file, http, swift or rbd; what the backend itself cannot hold is noted, not tested."""
    held, refused = [], []
    if kind == "file":
        datadir = os.path.join(env.work, "names-" + uuid.uuid4().hex[:8])
        os.makedirs(datadir)
        for name, why in NAMES:
            raw = name if isinstance(name, bytes) else name.encode()
            if b"/" in raw:
                refused.append(f"{name!r}: a file system name has no '/'")
                continue
            try:
                with open(os.path.join(datadir.encode(), raw), "xb") as f:
                    f.write(content(name))
                held.append((name, why))
            except (OSError, ValueError) as e:
                refused.append(f"{name!r}: {e.__class__.__name__}")
        options = f"filesystem_store_datadir = {datadir}"
    elif kind == "http":
        n = env.nginx()
        page = []
        for name, why in NAMES:
            if isinstance(name, bytes):
                refused.append(f"{name!r}: a JSON index holds text")
                continue
            page.append({"name": name, "type": "file"})
            held.append((name, why))
            if why is None:
                with open(os.path.join(n.html, name), "wb") as f:
                    f.write(content(name))
                os.chmod(os.path.join(n.html, name), 0o644)
        index = "odd-" + uuid.uuid4().hex[:8] + ".json"
        with open(os.path.join(n.html, index), "w") as f:
            json.dump(page, f)
        os.chmod(os.path.join(n.html, index), 0o644)
        options = f"storefs_index_url = http://127.0.0.1:{n.port}/html/{index}"
    elif kind == "swift":
        s = env.swift()
        container = "names-" + uuid.uuid4().hex[:8]
        s.request("PUT", container)
        for name, why in NAMES:
            if isinstance(name, bytes):
                refused.append(f"{name!r}: Swift takes UTF-8 names only")
                continue
            status, _, body = s.request("PUT", f"{container}/{urllib.parse.quote(name, safe='')}", data=content(name))
            if status == 201:
                held.append((name, why))
            else:
                refused.append(f"{name!r}: HTTP {status}")
        options = s.store_options(container)
    else:
        c = env.ceph()
        pool = c.make_pool("n" + uuid.uuid4().hex[:8])
        source = os.path.join(env.work, "names-source")
        for name, why in NAMES:
            if isinstance(name, bytes):
                refused.append(f"{name!r}: not tried (librbd takes C strings of UTF-8 here)")
                continue
            with open(source, "wb") as f:
                f.write(content(name))
            script = ("import rados, rbd, sys\n"
                      f"c = rados.Rados(conffile={c.conf!r}); c.connect(); io = c.open_ioctx({pool!r})\n"
                      "name = sys.argv[1]; data = open(sys.argv[2], 'rb').read()\n"
                      "rbd.RBD().create(io, name, len(data), old_format=False)\n"
                      "with rbd.Image(io, name) as i: i.write(data, 0)\n")
            status, _, err = sh(f"/usr/bin/python3 -c {quote(script)} {quote(name)} {source}")
            if status == 0:
                held.append((name, why))
            else:
                refused.append(f"{name!r}: {err.strip().splitlines()[-1] if err.strip() else status}")
        options = c.store_options(pool)
    result.figure("names_held", len(held))
    if refused:
        result.note(f"the {kind} backend itself refused: " + "; ".join(refused))

    mount = Mount(env.binary, env.work, {"odd": (kind, options)}).start()
    try:
        for _ in range(2):  # listed twice: still one line per name
            listed = os.listdir(mount.path("odd").encode())
        shown = {n for n in listed}
        for name, why in held:
            raw = name if isinstance(name, bytes) else name.encode()
            if why is None:
                path = os.path.join(mount.path("odd").encode(), raw)
                try:
                    with open(path, "rb") as f:
                        got = f.read()
                except OSError as e:
                    got = e
                result.check(f"{name!r} is shown and reads right", raw in shown and got == content(name),
                             "not listed" if raw not in shown else repr(got)[:80])
            else:
                result.check(f"{name!r} ({why}) is not shown", raw not in shown and not any(b"/" in n for n in shown))
        left_out = [line for line in mount.log.splitlines() if "left out" in line and "store=odd" in line]
        expected = sum(1 for _, why in held if why)
        result.figure("left_out_log_lines", len(left_out))
        result.check("one log line for each name left out, however often the store is listed", len(left_out) == expected,
                     f"{len(left_out)} lines for {expected} names")
        status, _, err = sh(f"ls -la {mount.mnt}")
        result.check("nothing outside the store shows, the daemon runs on", status == 0 and mount.process.poll() is None, err)
    finally:
        mount.stop()


def quote(text):
    return "'" + text.replace("'", "'\\''") + "'"
