"""Secrets of the configuration (a Swift key, Keystone passwords — of swift and cinder stores —, http
Basic credentials, a vCenter password, and the wrong ones of failed logins) must appear nowhere: not in `check`, `stores --detail`, the daemon's
log with --debug, any xattr, or the error of a failed login."""

import os
import uuid

from common import Mount, sh

BASIC_PASSWORD = "basic-pw-Ld93kQ"
WRONG_KEY = "wrong-key-Zx81pT"
WRONG_PASSWORD = "wrong-pass-Qm42vB"
KEYSTONE_PASSWORD = "glancepw"  # test-keystone.sh's user glance


def cinder_options(keystone, password):
    return (f"cinder_store_auth_address = {keystone.auth}\ncinder_store_user_name = glance\n"
            f"cinder_store_password = {password}\ncinder_store_project_name = images")


def run(result, env):
    n, s, k, v = env.nginx(), env.swift(), env.keystone(), env.vcsim()
    container = "secret-" + uuid.uuid4().hex[:8]
    source = os.path.join(env.work, "secret-image")
    with open(source, "wb") as f:
        f.write(b"an image\n")
    s.put(container, "img", source, user="secret:tester")
    n.put("img", source)
    reference = os.path.join(env.work, "glance-swift-" + uuid.uuid4().hex[:8] + ".conf")
    with open(reference, "w") as f:
        f.write(f"[ref1]\nauth_address = {s.auth}\nuser = secret:tester\nkey = {s.SECRET_KEY}\nauth_version = 1\n"
                f"[bad]\nauth_address = {s.auth}\nuser = secret:tester\nkey = {WRONG_KEY}\nauth_version = 1\n")
    stores = {
        "ref": ("swift", f"swift_store_config_file = {reference}\ndefault_swift_reference = ref1\nswift_store_container = {container}"),
        "inline": ("swift", s.store_options(container, user="secret:tester").replace("swift_store_key = testing", f"swift_store_key = {s.SECRET_KEY}")),
        "ks": ("swift", k.store_options(container)),
        "web": ("http", f"storefs_index_url = http://glance:{BASIC_PASSWORD}@127.0.0.1:{n.port}/json/"),
        "badkey": ("swift", f"swift_store_config_file = {reference}\ndefault_swift_reference = bad\nswift_store_container = {container}"),
        "badpass": ("swift", k.store_options(container).replace(f"swift_store_key = {KEYSTONE_PASSWORD}", f"swift_store_key = {WRONG_PASSWORD}")),
        # Cinder stores log in to Keystone with their own user (no Cinder runs here: the login, its
        # errors and the catalog are what may leak the password).
        "vols": ("cinder", cinder_options(k, KEYSTONE_PASSWORD)),
        "badvols": ("cinder", cinder_options(k, WRONG_PASSWORD)),
        # vCenter: its password goes into a SOAP Login body, never anywhere else.
        "vm": ("vmware", v.store_options(container)),
        "badvm": ("vmware", v.store_options(container, password=WRONG_PASSWORD)),
    }
    secrets = [s.SECRET_KEY, KEYSTONE_PASSWORD, BASIC_PASSWORD, WRONG_KEY, WRONG_PASSWORD, v.PASSWORD]
    mount = Mount(env.binary, env.work, stores, debug=True)
    places = {}
    status, out, err = sh(f"{env.binary} check --config-file {mount.config}")
    places["check"] = out + err
    status, out, err = sh(f"{env.binary} stores --detail --config-file {mount.config}")
    places["stores --detail"] = out + err
    mount.start()
    try:
        outputs = []
        for store in stores:
            outputs.append(sh(f"ls -l {mount.path(store)}"))
        for store in ("ref", "inline", "web"):
            outputs.append(sh(f"cat {mount.path(store, 'img')}"))
        failed = [o for o in outputs[4:6]]
        # ks logs in to another account (Keystone's project), empty: it lists, nothing more.
        result.check("the vmware store with the good password lists", outputs[8][0] == 0, outputs[8][2][-200:])
        result.check("the stores with good credentials list", all(o[0] == 0 for o in outputs[:4]) and
                     all("img" in o[1] for o in (outputs[0], outputs[1], outputs[3])), [o[2][-120:] for o in outputs[:4]])
        failed.append(outputs[7])  # badvols
        failed.append(outputs[9])  # badvm
        result.check("the failed logins fail (EACCES)", all(o[0] != 0 and "Permission denied" in o[2] for o in failed), [o[2] for o in failed])
        places["errors of the commands"] = "".join(o[2] for o in outputs)
        status, out, err = sh(f"getfattr -d -m - -R {mount.mnt}")
        places["every xattr"] = out + err
        result.check("xattrs were read", "user.glance.location" in out and "user.glance.store.type" in out, err[-200:])
        for store in ("ref", "inline", "ks", "web"):
            for attribute in ("user.glance.location", "user.glance.checksum", "user.glance.os_hash_value"):
                places["every xattr"] += sh(f"getfattr -n {attribute} {mount.path(store, 'img')}")[1]
    finally:
        mount.stop()
    places["daemon log (--debug)"] = mount.log
    result.check("the log has the failed logins' errors", all(s in mount.log for s in ("badkey", "badpass", "badvols", "badvm")))
    for place, text in places.items():
        found = [secret for secret in secrets if secret in text]
        result.check(f"no secret in {place}", not found, found)
    result.figure("places_searched", len(places))
    result.figure("secrets", len(secrets))
