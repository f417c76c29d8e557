#!/usr/bin/python3
"""Drives Debian's python3-glance-store (Glance's own driver code) against a glance-api.conf, so the
test suite proves that what glance-storefs writes Glance reads, and the other way round.

usage: glance_store_tool.py CONF add STORE IMAGE_ID SRC_FILE   -> JSON {location, size, checksum, multihash, metadata}
       glance_store_tool.py CONF get STORE LOCATION            -> JSON {size, md5, sha512}
       glance_store_tool.py CONF delete STORE LOCATION         -> JSON {deleted: true}
Run it with /usr/bin/python3: a pyenv python3 on PATH lacks Debian's modules.
With STOREFS_GLANCE_PROJECT set, calls carry a request context of user `glance` in that project (Glance's
cinder driver requires one: the project becomes the volume's `image_owner`).
"""
import hashlib
import json
import logging
import os
import sys

from oslo_config import cfg
import glance_store
from glance_store import multi_backend

RESERVED = {'os_glance_staging_store': 'file', 'os_glance_tasks_store': 'file'}


def setup(conf_file):
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger('stevedore').setLevel(logging.CRITICAL)  # s3 needs boto3; irrelevant here
    conf = cfg.CONF  # glance_store's verify_store() reads the global CONF
    conf.register_opt(cfg.DictOpt('enabled_backends'))
    conf(['--config-file', conf_file], project='glance')
    multi_backend.register_store_opts(conf, reserved_stores=RESERVED)
    multi_backend.create_multi_stores(conf, reserved_stores=RESERVED)
    multi_backend.verify_store()
    return conf


def request_context():
    project = os.environ.get("STOREFS_GLANCE_PROJECT")
    if not project:
        return None
    from oslo_context import context
    ctx = context.RequestContext(user_id="glance", project_id=project)
    ctx.service_catalog = []  # unused with the cinder_store_* credentials, but must not be None
    return ctx


def main():
    conf_file, command, store = sys.argv[1], sys.argv[2], sys.argv[3]
    conf = setup(conf_file)
    ctx = request_context()
    if command == 'add':
        image_id, src = sys.argv[4], sys.argv[5]
        with open(src, 'rb') as f:
            data = f.read()
        import io
        location, size, checksum, multihash, metadata = multi_backend.add_with_multihash(
            conf, image_id, io.BytesIO(data), len(data), store, 'sha512', context=ctx)
        print(json.dumps({'location': location, 'size': size, 'checksum': checksum,
                          'multihash': multihash, 'metadata': metadata}))
    elif command == 'get':
        iterator, size = multi_backend.get(sys.argv[4], store, context=ctx)
        md5, sha512, total = hashlib.md5(), hashlib.sha512(), 0
        for chunk in iterator:
            md5.update(chunk)
            sha512.update(chunk)
            total += len(chunk)
        print(json.dumps({'size': size, 'read': total, 'md5': md5.hexdigest(), 'sha512': sha512.hexdigest()}))
    elif command == 'delete':
        multi_backend.delete(sys.argv[4], store, context=ctx)
        print(json.dumps({'deleted': True}))
    else:
        sys.exit('unknown command ' + command)


if __name__ == '__main__':
    main()
