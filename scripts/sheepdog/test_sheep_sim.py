"""The simulator's behaviours, pinned to sheepdog's own definitions (../shared/reference/sheepdog.md,
include/sheepdog_proto.h, sheep/vdi.c) with raw bytes on a socket, independent of glance-storefs'
client. Run by the test suite (SheepdogSimulatorTests) as `python3 -m unittest`."""
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
NR_VDIS = 1 << 24
VIDS_AT = 4664


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.next_id = 1

    def send(self, opcode, data=b"", write=None, fields=(), proto=None, flags=0):
        rid = self.next_id
        self.next_id += 1
        req = bytearray(48)
        if proto is None:
            proto = 0x0A if opcode >= 0x80 else 0x02
        write = bool(data) if write is None else write
        for offset, fmt, value in fields:
            struct.pack_into(fmt, req, offset, value)
        length = struct.unpack_from("<I", req, 12)[0] or len(data)
        struct.pack_into("<BBHIII", req, 0, proto, opcode, flags | (1 if write else 0), 0, rid, length)
        self.sock.sendall(bytes(req) + (data if write else b""))
        return rid

    def receive(self):
        header = self.recv_exactly(48)
        rid, length = struct.unpack_from("<II", header, 8)
        result = struct.unpack_from("<I", header, 16)[0]
        return rid, result, header, self.recv_exactly(length)

    def call(self, opcode, data=b"", **kw):
        rid = self.send(opcode, data, **kw)
        got, result, header, body = self.receive()
        assert got == rid
        return result, header, body

    def recv_exactly(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return bytes(out)

    # -- helpers as dog does them
    def new_vdi(self, name, size, base=0, snapid=0):
        result, header, _ = self.call(0x11, name.encode().ljust(256, b"\0"),
                                      fields=[(16, "<Q", size), (24, "<I", base), (32, "<I", snapid)])
        return result, struct.unpack_from("<I", header, 24)[0]

    def vdi_info(self, name, snapid=0, tag=None):
        data = name.encode().ljust(256, b"\0") + (tag.encode().ljust(256, b"\0") if tag is not None else b"")
        result, header, _ = self.call(0x14, data, fields=[(32, "<I", snapid)])
        return result, struct.unpack_from("<I", header, 24)[0]

    def read_obj(self, oid, offset, length):
        result, _, body = self.call(0x02, write=False, fields=[(12, "<I", length), (16, "<Q", oid), (40, "<I", offset)])
        return result, body

    def write_obj(self, oid, offset, data, create=False, cow=0):
        result, _, _ = self.call(0x01 if create else 0x03, data, flags=2 if cow else 0,
                                 fields=[(16, "<Q", oid), (24, "<Q", cow), (40, "<I", offset)])
        return result

    def bitmap(self, opcode):
        result, _, body = self.call(opcode, write=False, fields=[(12, "<I", NR_VDIS // 8)])
        assert result == 0
        return body


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def vdi_oid(vid):
    return 1 << 63 | vid << 32


def data_oid(vid, idx):
    return vid << 32 | idx


def bit(bitmap, i):
    return bitmap[i >> 3] >> (i & 7) & 1


class SimulatorTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.sim = subprocess.Popen([sys.executable, os.path.join(HERE, "sheep_sim.py"), "--port", str(cls.port),
                                    "--size", str(1 << 30)])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", cls.port)).close()
                break
            except OSError:
                time.sleep(0.05)
        c = Client(cls.port)
        cls.addClassCleanup(c.sock.close)
        # Not formatted: every VDI request waits for the format (WAIT_FOR_FORMAT 0x16).
        assert c.vdi_info("x")[0] == 0x16
        assert c.call(0x84, write=False, fields=[(32, "<B", 1), (44, "<B", 22)])[0] == 0

    @classmethod
    def tearDownClass(cls):
        cls.sim.kill()
        cls.sim.wait()

    def setUp(self):
        self.c = Client(self.port)

    def tearDown(self):
        self.c.sock.close()

    def test_fnv1a_matches_the_published_vectors_and_names_the_vdi(self):
        self.assertEqual(fnv1a64(b"a"), 0xAF63DC4C8601EC8C)
        self.assertEqual(fnv1a64(b"foobar"), 0x85944171F73967E8)
        result, vid = self.c.new_vdi("foobar", 1 << 20)
        self.assertEqual(result, 0)
        self.assertEqual(vid, 0x85944171F73967E8 & 0xFFFFFF)
        self.assertEqual(self.c.vdi_info("foobar"), (0, vid))

    def test_result_codes(self):
        self.assertEqual(self.c.vdi_info("no-such-vdi")[0], 0x08)                 # NO_VDI
        self.c.new_vdi("dup", 4096)
        self.assertEqual(self.c.new_vdi("dup", 4096)[0], 0x04)                    # VDI_EXIST
        self.assertEqual(self.c.read_obj(data_oid(0x123456, 7), 0, 10)[0], 0x02)  # NO_OBJ
        self.assertEqual(self.c.call(0x11, b"short", fields=[(16, "<Q", 1)])[0], 0x05)  # INVALID_PARMS
        self.assertEqual(self.c.call(0x86, write=False, proto=0x02)[0], 0x14)     # VER_MISMATCH
        self.assertEqual(self.c.vdi_info("dup", snapid=5)[0], 0x0E)               # NO_TAG

    def test_inode_layout(self):
        result, vid = self.c.new_vdi("layout", 12345678)
        result, header = self.c.read_obj(vdi_oid(vid), 0, 4664)
        self.assertEqual(result, 0)
        self.assertEqual(header[:7], b"layout\0")
        self.assertEqual(struct.unpack_from("<Q", header, 536)[0], 12345678)      # vdi_size
        self.assertEqual(header[554], 1)                                           # nr_copies
        self.assertEqual(header[555], 22)                                          # block_size_shift
        self.assertEqual(struct.unpack_from("<III", header, 556), (1, vid, 0))   # snap_id, vdi_id, parent
        self.assertEqual(struct.unpack_from("<Q", header, 520)[0], 0)             # not a snapshot
        self.assertNotEqual(struct.unpack_from("<Q", header, 512)[0], 0)          # create_time
        # data_vdi_id: all holes until the client writes an object's owner in.
        self.assertEqual(self.c.read_obj(vdi_oid(vid), VIDS_AT, 16)[1], bytes(16))

    def test_objects_snapshot_clone_and_the_readonly_snapshot(self):
        _, vid = self.c.new_vdi("base", 3 << 22)
        self.assertEqual(self.c.write_obj(data_oid(vid, 2), 100, b"hello", create=True), 0)
        self.assertEqual(self.c.write_obj(vdi_oid(vid), VIDS_AT + 8, struct.pack("<I", vid)), 0)
        result, obj = self.c.read_obj(data_oid(vid, 2), 0, 1 << 22)
        self.assertEqual(len(obj), 1 << 22)                                        # whole object, zero-filled
        self.assertEqual(obj[100:105], b"hello")
        # Snapshot: the old id becomes the snapshot, the working VDI takes the next free id (probing).
        result, working = self.c.new_vdi("base", 3 << 22, base=vid, snapid=1)
        self.assertEqual((result, working), (0, vid + 1))
        self.assertEqual(self.c.vdi_info("base"), (0, working))
        self.assertEqual(self.c.vdi_info("base", snapid=1), (0, vid))
        header = self.c.read_obj(vdi_oid(working), 0, 4664 + 12)[1]
        self.assertEqual(struct.unpack_from("<III", header, 556), (2, working, vid))
        self.assertEqual(struct.unpack_from("<I", header, VIDS_AT + 8)[0], vid)   # shares the object
        self.assertNotEqual(struct.unpack_from("<Q", self.c.read_obj(vdi_oid(vid), 0, 4664)[1], 520)[0], 0)
        self.assertEqual(self.c.write_obj(data_oid(vid, 2), 0, b"x"), 0x1A)        # READONLY
        # Clone: a new name from the snapshot, the same objects, no copy.
        result, clone = self.c.new_vdi("clone", 3 << 22, base=vid)
        self.assertEqual(result, 0)
        header = self.c.read_obj(vdi_oid(clone), 0, 4664 + 12)[1]
        self.assertEqual(struct.unpack_from("<III", header, 556), (1, clone, vid))
        self.assertEqual(struct.unpack_from("<I", header, VIDS_AT + 8)[0], vid)
        # Copy-on-write: a clone's own object made from the snapshot's.
        self.assertEqual(self.c.write_obj(data_oid(clone, 2), 0, b"J", create=True, cow=data_oid(vid, 2)), 0)
        self.assertEqual(self.c.read_obj(data_oid(clone, 2), 0, 105)[1][:1] + self.c.read_obj(data_oid(clone, 2), 100, 5)[1], b"Jhello")

    def test_deletion_leaves_the_inode_and_releases_unshared_objects(self):
        _, vid = self.c.new_vdi("doomed", 1 << 22)
        self.c.write_obj(data_oid(vid, 0), 0, b"data", create=True)
        self.c.write_obj(vdi_oid(vid), VIDS_AT, struct.pack("<I", vid))
        # dog: zero data_vdi_id (the object loses its last reference), then DEL_VDI.
        self.assertEqual(self.c.write_obj(vdi_oid(vid), VIDS_AT, bytes(4)), 0)
        self.assertEqual(self.c.read_obj(data_oid(vid, 0), 0, 4)[0], 0x02)
        result, _, _ = self.c.call(0x17, b"doomed".ljust(256, b"\0"))
        self.assertEqual(result, 0)
        self.assertEqual(self.c.vdi_info("doomed")[0], 0x08)
        self.assertEqual(bit(self.c.bitmap(0x15), vid), 1)                         # still in use
        self.assertEqual(bit(self.c.bitmap(0xC9), vid), 1)                         # and deleted
        header = self.c.read_obj(vdi_oid(vid), 0, 4664)[1]
        self.assertEqual(header[:256], bytes(256))
        self.assertEqual(struct.unpack_from("<Q", header, 536)[0], 0)
        self.assertEqual(self.c.call(0x17, b"doomed".ljust(256, b"\0"))[0], 0x08)
        # An object a snapshot still refers to stays when the working VDI lets it go.
        _, vid = self.c.new_vdi("kept", 1 << 22)
        self.c.write_obj(data_oid(vid, 0), 0, b"keep", create=True)
        self.c.write_obj(vdi_oid(vid), VIDS_AT, struct.pack("<I", vid))
        _, working = self.c.new_vdi("kept", 1 << 22, base=vid, snapid=1)
        self.c.write_obj(vdi_oid(working), VIDS_AT, bytes(4))
        self.assertEqual(self.c.read_obj(data_oid(vid, 0), 0, 4), (0, b"keep"))

    def test_requests_in_flight_are_answered_by_id(self):
        _, vid = self.c.new_vdi("pipelined", 1 << 22)
        ids = [self.c.send(0x14, b"pipelined".ljust(256, b"\0")) for _ in range(5)]
        answers = [self.c.receive() for _ in ids]
        self.assertEqual(sorted(a[0] for a in answers), sorted(ids))
        self.assertTrue(all(struct.unpack_from("<I", a[2], 24)[0] == vid for a in answers))

    def test_attributes(self):
        _, vid = self.c.new_vdi("withattr", 4096)
        attr = b"withattr".ljust(256, b"\0") + bytes(256) + bytes(8) + bytes(4) + struct.pack("<I", 5) \
            + b"key".ljust(256, b"\0") + b"value"
        result, header, _ = self.c.call(0x89, attr, flags=0x0100)                 # CREAT
        self.assertEqual(result, 0)
        attr_vid, attr_id = struct.unpack_from("<II", header, 24)
        self.assertEqual(attr_vid, fnv1a64(b"withattr") & 0xFFFFFF)
        oid = attr_vid << 32 | 1 << 61 | attr_id
        result, stored = self.c.read_obj(oid, 0, 784 + 5)
        self.assertEqual(stored[784:], b"value")
        self.assertEqual(struct.unpack_from("<I", stored, 524)[0], 5)
        self.assertNotEqual(struct.unpack_from("<Q", stored, 512)[0], 0)           # the VDI's create_time
        self.assertEqual(self.c.call(0x89, attr[:784], flags=0)[0], 0)             # found
        self.assertEqual(self.c.call(0x89, attr, flags=0x0300)[0], 0x04)           # CREAT|EXCL: exists
        other = attr[:528] + b"nokey".ljust(256, b"\0")
        self.assertEqual(self.c.call(0x89, other, flags=0)[0], 0x02)               # NO_OBJ

    def test_node_statistics(self):
        result, header, _ = self.c.call(0x86, write=False)
        self.assertEqual(result, 0)
        size, free = struct.unpack_from("<QQ", header, 32)
        self.assertEqual(size, 1 << 30)
        self.assertLessEqual(free, size)


if __name__ == "__main__":
    unittest.main()
