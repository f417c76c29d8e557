#!/usr/bin/python3
"""Reaches the test Cinder (scripts/test-cinder.sh) by its own API and its backends by their own
routes, not through glance-storefs: for the cinder store's tests to seed volumes and to check what
the store left in Cinder.

usage: cinder_tool.py CINDER_DIR KEYSTONE_DIR CEPH_CONF COMMAND ARGS...
  type NAME BACKEND            a public volume type on backend rbd-1 or nfs-1 (as admin)
  drop-type NAME               deletes every volume of the type (detached first), then the type
  seed TYPE IMAGE FILE         volume image-IMAGE as Glance leaves one: its bytes written through RBD or
                               into the NFS export, metadata glance_image_id/image_size/image_owner,
                               read-only flag; prints the volume id
  volumes TYPE                 JSON list of the type's volumes {id, name, status, size, metadata, attachments}
  attach VOLUME_ID             attaches the volume to another host (as Nova would), prints the attachment id
  detach ATTACHMENT_ID
  read VOLUME_ID COUNT         md5 of the first COUNT bytes of the volume, read by the backend's own route
Run it with /usr/bin/python3.
"""
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

CINDER_DIR, KEYSTONE_DIR, CEPH_CONF = sys.argv[1], sys.argv[2], sys.argv[3]
KEYSTONE = "http://127.0.0.1:%s/v3" % open(os.path.join(KEYSTONE_DIR, "ports")).read().split()[0]
CINDER_PORT = open(os.path.join(CINDER_DIR, "port")).read().strip()
HEADERS = {"Content-Type": "application/json", "OpenStack-API-Version": "volume 3.54"}
GIB = 1 << 30


def request(method, url, body=None, token=None):
    headers = dict(HEADERS, **({"X-Auth-Token": token} if token else {}))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.headers, json.loads(r.read() or b"{}")


def login(user, password, project):
    headers, body = request("POST", KEYSTONE + "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    project_id = body["token"]["project"]["id"]
    return headers["X-Subject-Token"], "http://127.0.0.1:%s/v3/%s" % (CINDER_PORT, project_id), project_id


def wait(base, token, volume_id, states):
    for _ in range(1200):
        volume = request("GET", "%s/volumes/%s" % (base, volume_id), token=token)[1]["volume"]
        if volume["status"] in states:
            return volume
        if volume["status"].startswith("error"):
            sys.exit("volume %s went to %s" % (volume_id, volume["status"]))
        time.sleep(0.1)
    sys.exit("volume %s stayed %s" % (volume_id, volume["status"]))


def volumes_of(base, token, type_name):
    out = request("GET", base + "/volumes/detail?limit=1000", token=token)[1]["volumes"]
    return [v for v in out if v.get("volume_type") == type_name]


def rbd_image(volume_id):
    import rados
    import rbd
    cluster = rados.Rados(conffile=CEPH_CONF)
    cluster.connect()
    ioctx = cluster.open_ioctx("volumes")
    return cluster, ioctx, rbd.Image(ioctx, "volume-" + volume_id)


def main():
    command, args = sys.argv[4], sys.argv[5:]
    token, base, project = login("glance", "glancepw", "images")
    if command == "type":
        admin, admin_base, _ = login("admin", "adminpw", "admin")
        vt = request("POST", admin_base + "/types", {"volume_type": {"name": args[0], "os-volume-type-access:is_public": True}}, admin)[1]["volume_type"]
        request("POST", "%s/types/%s/extra_specs" % (admin_base, vt["id"]), {"extra_specs": {"volume_backend_name": args[1]}}, admin)
        print(vt["id"])
    elif command == "drop-type":
        admin, admin_base, _ = login("admin", "adminpw", "admin")
        for volume in volumes_of(base, token, args[0]):
            for attachment in request("GET", base + "/attachments?volume_id=" + volume["id"], token=token)[1]["attachments"]:
                request("DELETE", base + "/attachments/" + attachment["id"], token=token)
            if volume["status"] not in ("available", "error"):
                wait(base, token, volume["id"], ("available", "error"))
            request("DELETE", base + "/volumes/" + volume["id"], token=token)
        for _ in range(300):
            if not volumes_of(base, token, args[0]):
                break
            time.sleep(0.1)
        types = request("GET", admin_base + "/types", token=admin)[1]["volume_types"]
        for vt in types:
            if vt["name"] == args[0]:
                request("DELETE", admin_base + "/types/" + vt["id"], token=admin)
    elif command == "seed":
        type_name, image, source = args
        data = open(source, "rb").read()
        size = max(1, (len(data) + GIB - 1) // GIB)
        volume = request("POST", base + "/volumes", {"volume": {"name": "image-" + image, "size": size, "volume_type": type_name,
                                                                "metadata": {"glance_image_id": image, "image_owner": project}}}, token)[1]["volume"]
        volume = wait(base, token, volume["id"], ("available",))
        if type_name_backend(base, token, volume) == "rbd":
            cluster, ioctx, img = rbd_image(volume["id"])
            img.write(data, 0)
            img.close(); ioctx.close(); cluster.shutdown()
        else:
            with open(os.path.join(CINDER_DIR, "export", "volume-" + volume["id"]), "r+b") as f:
                f.write(data)
        request("POST", "%s/volumes/%s/metadata" % (base, volume["id"]), {"metadata": {"image_size": str(len(data))}}, token)
        request("POST", "%s/volumes/%s/action" % (base, volume["id"]), {"os-update_readonly_flag": {"readonly": True}}, token)
        print(volume["id"])
    elif command == "volumes":
        out = []
        for v in volumes_of(base, token, args[0]):
            attachments = request("GET", base + "/attachments?volume_id=" + v["id"], token=token)[1]["attachments"]
            out.append({"id": v["id"], "name": v["name"], "status": v["status"], "size": v["size"],
                        "metadata": v["metadata"], "attachments": len(attachments)})
        print(json.dumps(out))
    elif command == "attach":
        connector = {"host": "nova-compute-1", "ip": "127.0.0.2", "platform": "x86_64", "os_type": "linux", "multipath": False}
        attachment = request("POST", base + "/attachments", {"attachment": {"volume_uuid": args[0], "mode": "rw", "connector": connector}}, token)[1]["attachment"]
        request("POST", "%s/attachments/%s/action" % (base, attachment["id"]), {"os-complete": None}, token)
        print(attachment["id"])
    elif command == "detach":
        request("DELETE", base + "/attachments/" + args[0], token=token)
    elif command == "read":
        volume_id, count = args[0], int(args[1])
        volume = request("GET", base + "/volumes/" + volume_id, token=token)[1]["volume"]
        if type_name_backend(base, token, volume) == "rbd":
            cluster, ioctx, img = rbd_image(volume_id)
            data = img.read(0, count) if count else b""
            img.close(); ioctx.close(); cluster.shutdown()
        else:
            with open(os.path.join(CINDER_DIR, "export", "volume-" + volume_id), "rb") as f:
                data = f.read(count)
        print(hashlib.md5(data).hexdigest())
    else:
        sys.exit("unknown command " + command)


def type_name_backend(base, token, volume):
    """rbd or nfs: where the volume lives (its file exists in the NFS export, or not)."""
    return "nfs" if os.path.exists(os.path.join(CINDER_DIR, "export", "volume-" + volume["id"])) else "rbd"


if __name__ == "__main__":
    try:
        main()
    except urllib.error.HTTPError as e:
        sys.exit("HTTP %s: %s" % (e.code, e.read().decode(errors="replace")))
