"""What `dog` would do to a sheepdog cluster, for the tests of glance-storefs' sheepdog store: seeds
and checks VDIs by the protocol directly, without glance-storefs' code (the simulator's test client
speaks the bytes).

    sheep_tool.py PORT create NAME FILE     a VDI of the file's size, its non-zero objects written
    sheep_tool.py PORT cat NAME             the working VDI's bytes on stdout
    sheep_tool.py PORT vdis                 JSON: every live VDI (id, name, tag, snap_id, snapshot,
                                            size, parent, allocated object indexes)
    sheep_tool.py PORT snapshot NAME TAG    dog vdi snapshot -s TAG NAME
    sheep_tool.py PORT delete NAME          dog vdi delete NAME
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "sheepdog"))
from test_sheep_sim import Client, data_oid, vdi_oid, VIDS_AT  # noqa: E402

OBJECT = 1 << 22


def header(c, vid):
    result, raw = c.read_obj(vdi_oid(vid), 0, 572)
    assert result == 0, result
    name = raw[:256].split(b"\0")[0].decode()
    tag = raw[256:512].split(b"\0")[0].decode()
    size = struct.unpack_from("<Q", raw, 536)[0]
    snap_ctime = struct.unpack_from("<Q", raw, 520)[0]
    snap_id, vdi_id, parent = struct.unpack_from("<III", raw, 556)
    return {"id": vid, "name": name, "tag": tag, "size": size, "snapshot": snap_ctime != 0, "snap_id": snap_id, "parent": parent}


def entries(c, vid, size):
    count = (size + OBJECT - 1) // OBJECT
    if count == 0:
        return []
    raw = c.read_obj(vdi_oid(vid), VIDS_AT, 4 * count)[1]
    return list(struct.unpack(f"<{count}I", raw))


def main():
    port, command, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    c = Client(port)
    if command == "create":
        data = open(args[1], "rb").read()
        result, vid = c.new_vdi(args[0], len(data))
        assert result == 0, result
        for index in range(0, (len(data) + OBJECT - 1) // OBJECT):
            chunk = data[index * OBJECT:(index + 1) * OBJECT]
            if chunk.count(0) == len(chunk):
                continue
            assert c.write_obj(data_oid(vid, index), 0, chunk, create=True) == 0
            assert c.write_obj(vdi_oid(vid), VIDS_AT + 4 * index, struct.pack("<I", vid)) == 0
        print(json.dumps({"id": vid}))
    elif command == "cat":
        result, vid = c.vdi_info(args[0])
        assert result == 0, result
        h = header(c, vid)
        out = bytearray()
        for index, owner in enumerate(entries(c, vid, h["size"])):
            length = min(OBJECT, h["size"] - index * OBJECT)
            out += c.read_obj(data_oid(owner, index), 0, length)[1] if owner else bytes(length)
        sys.stdout.buffer.write(out)
    elif command == "vdis":
        inuse, deleted = c.bitmap(0x15), c.bitmap(0xC9)
        vdis = []
        live = [byte_index * 8 + bit for byte_index, byte in enumerate(inuse) if byte
                for bit in range(8) if byte >> bit & 1 and not deleted[byte_index] >> bit & 1]
        for i in live:
            h = header(c, i)
            if h["name"]:
                h["allocated"] = [k for k, owner in enumerate(entries(c, i, h["size"])) if owner]
                vdis.append(h)
        print(json.dumps(vdis))
    elif command == "snapshot":
        result, vid = c.vdi_info(args[0])
        assert result == 0, result
        assert c.write_obj(vdi_oid(vid), 256, args[1].encode().ljust(256, b"\0")) == 0
        result, new = c.new_vdi(args[0], header(c, vid)["size"], base=vid, snapid=1)
        assert result == 0, result
        print(json.dumps({"snapshot": vid, "working": new}))
    elif command == "delete":
        result, vid = c.vdi_info(args[0])
        assert result == 0, result
        h = header(c, vid)
        count = len(entries(c, vid, h["size"]))
        if count:
            assert c.write_obj(vdi_oid(vid), VIDS_AT, bytes(4 * count)) == 0
        assert c.call(0x17, args[0].encode().ljust(256, b"\0"))[0] == 0
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
