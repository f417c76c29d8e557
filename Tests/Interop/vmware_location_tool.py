#!/usr/bin/python3
"""Glance's own vmware location code (Debian's python3-glance-store, `vmware_datastore.StoreLocation`)
on our locations: the layout proof of the vmware store. Glance's driver itself cannot run here: it
loads vSphere's WSDL from the server (/sdk/vimService.wsdl), which govmomi's simulator does not
serve and no package here ships.

usage: vmware_location_tool.py parse LOCATION
           -> JSON {https_url, path, datastore_name, datacenter_path}: where Glance reads and deletes it
       vmware_location_tool.py build HOST IMAGE_DIR DATACENTER_PATH DATASTORE_NAME IMAGE_ID
           -> JSON {location, https_url}: what Glance's add records, and where it PUTs the data
Run it with /usr/bin/python3: a pyenv python3 on PATH lacks Debian's modules.
"""
import json
import sys

from oslo_config import cfg
from glance_store._drivers import vmware_datastore


def main():
    conf = cfg.ConfigOpts()
    if sys.argv[1] == 'parse':
        location = vmware_datastore.StoreLocation({}, conf)
        location.parse_uri(sys.argv[2])
        print(json.dumps({'https_url': location.https_url, 'path': location.path,
                          'datastore_name': location.datastore_name,
                          'datacenter_path': location.datacenter_path}))
    elif sys.argv[1] == 'build':
        host, image_dir, dc_path, ds_name, image_id = sys.argv[2:7]
        location = vmware_datastore.StoreLocation(
            {'scheme': 'vsphere', 'server_host': host, 'image_dir': image_dir, 'datacenter_path': dc_path,
             'datastore_name': ds_name, 'image_id': image_id}, conf)
        print(json.dumps({'location': location.get_uri(), 'https_url': location.https_url}))
    else:
        sys.exit('unknown command ' + sys.argv[1])


if __name__ == '__main__':
    main()
