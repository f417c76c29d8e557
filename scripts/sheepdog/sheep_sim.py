"""A simulator of the sheep daemon (sheepdog 1.0), for glance-storefs' sheepdog store: no registry
packages sheepdog, so the tests run against this instead. One node, objects in memory, the wire
protocol and the server's rules as sheepdog's own sources have them (include/sheepdog_proto.h,
include/internal_proto.h, sheep/ops.c, sheep/vdi.c, sheep/gateway.c; see
../shared/reference/sheepdog.md): 48-byte requests and responses, several requests in flight on a
connection (answered by id), VDI ids by FNV-1a with linear probing, the inode layout, snapshots and
clones that share objects, objects released when no inode refers to them, deletion that leaves the
inode (name cleared) and its id in the in-use and deleted bitmaps, VDI attributes.

    sheep_sim.py --port PORT [--control-port PORT] [--size BYTES] [--access-log FILE]

With --control-port, each line "new" sent there starts another cluster of its own (fresh, formatted)
on a port of its own and answers that port: the tests of one run share this one process and still
never see each other's VDIs (a sheepdog cluster has no namespaces).

Only what a client of the protocol can see is simulated: no recovery, no epochs, no object cache,
no erasure coding, no hyper volumes (store_policy 1), no VID recycling.
"""
import argparse
import asyncio
import struct
import sys
import time

# include/sheepdog_proto.h, include/internal_proto.h
PROTO_VER = 0x02
SHEEP_PROTO_VER = 0x0A
OP_CREATE_AND_WRITE_OBJ, OP_READ_OBJ, OP_WRITE_OBJ, OP_REMOVE_OBJ, OP_DISCARD_OBJ = 0x01, 0x02, 0x03, 0x04, 0x05
OP_NEW_VDI, OP_LOCK_VDI, OP_RELEASE_VDI, OP_GET_VDI_INFO, OP_READ_VDIS = 0x11, 0x12, 0x13, 0x14, 0x15
OP_DEL_VDI, OP_GET_CLUSTER_DEFAULT = 0x17, 0x18
OP_MAKE_FS, OP_STAT_SHEEP, OP_GET_VDI_ATTR, OP_READ_DEL_VDIS = 0x84, 0x86, 0x89, 0xC9
FLAG_WRITE, FLAG_COW = 0x01, 0x02
FLAG_CREAT, FLAG_EXCL, FLAG_DEL = 0x0100, 0x0200, 0x0400
RES_SUCCESS, RES_NO_OBJ, RES_EIO, RES_VDI_EXIST, RES_INVALID_PARMS = 0x00, 0x02, 0x03, 0x04, 0x05
RES_NO_VDI, RES_NO_BASE_VDI, RES_BASE_VDI_READ, RES_NO_TAG, RES_FULL_VDI = 0x08, 0x09, 0x0C, 0x0E, 0x13
RES_VER_MISMATCH, RES_NO_SPACE, RES_WAIT_FOR_FORMAT, RES_READONLY = 0x14, 0x15, 0x16, 0x1A

NR_VDIS = 1 << 24
VDI_BIT, VDI_ATTR_BIT = 1 << 63, 1 << 61
VDI_SPACE_SHIFT = 32
INODE_DATA_INDEX = 1 << 20
MAX_VDI_LEN = MAX_TAG_LEN = MAX_KEY_LEN = 256
ATTR_HEADER = 256 + 256 + 8 + 4 + 4 + 256            # name, tag, ctime, snap_id, value_len, key
ATTR_OBJ_SIZE = ATTR_HEADER + 65536
# struct sd_inode: the header, then data_vdi_id[2^20] (u32), then gref[2^20] ({i32 generation, i32 count})
H_NAME, H_TAG, H_CREATE_TIME, H_SNAP_CTIME, H_VDI_SIZE = 0, 256, 512, 520, 536
H_COPY_POLICY, H_STORE_POLICY, H_NR_COPIES, H_BLOCK_SIZE_SHIFT = 552, 553, 554, 555
H_SNAP_ID, H_VDI_ID, H_PARENT_VDI_ID = 556, 560, 564
HEADER_SIZE = 4664
VIDS_AT = HEADER_SIZE
GREF_AT = VIDS_AT + 4 * INODE_DATA_INDEX
INODE_SIZE = GREF_AT + 8 * INODE_DATA_INDEX
FNV_BASIS, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fnv_64a(data, hval=FNV_BASIS):
    for byte in data:
        hval = ((hval ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return hval


def hash_vdi(name):
    """sd_hash_vdi(): FNV-1a of the name's bytes (strlen), 24 bits."""
    return fnv_64a(name.encode()) & (NR_VDIS - 1)


def vdi_oid(vid):
    return VDI_BIT | (vid << VDI_SPACE_SHIFT)


def data_oid(vid, idx):
    return (vid << VDI_SPACE_SHIFT) | idx


def attr_oid(vid, attrid):
    return (vid << VDI_SPACE_SHIFT) | VDI_ATTR_BIT | attrid


def oid_vid(oid):
    return (oid >> VDI_SPACE_SHIFT) & (NR_VDIS - 1)


def is_vdi_oid(oid):
    return bool(oid & VDI_BIT)


def is_data_oid(oid):
    return not oid & (VDI_BIT | (1 << 62) | VDI_ATTR_BIT | (1 << 60) | (1 << 59))


def cstr(raw):
    return raw.split(b"\0", 1)[0].decode(errors="replace")


class Inode:
    """An inode object, sparse: the header's bytes, and the non-zero data_vdi_id and gref entries."""

    def __init__(self):
        self.header = bytearray(HEADER_SIZE)
        self.vids = {}      # index -> vid
        self.gref = {}      # index -> (generation, count)

    def get(self, offset, fmt):
        return struct.unpack_from(fmt, self.header, offset)[0]

    def put(self, offset, fmt, value):
        struct.pack_into(fmt, self.header, offset, value)

    name = property(lambda self: cstr(bytes(self.header[H_NAME:H_NAME + 256])))
    vdi_id = property(lambda self: self.get(H_VDI_ID, "<I"))
    snap_id = property(lambda self: self.get(H_SNAP_ID, "<I"))
    is_snapshot = property(lambda self: self.get(H_SNAP_CTIME, "<Q") != 0)
    block_size_shift = property(lambda self: self.header[H_BLOCK_SIZE_SHIFT])

    def read(self, offset, length):
        out = bytearray()
        end = offset + length
        if offset < HEADER_SIZE:
            out += self.header[offset:min(end, HEADER_SIZE)]
        lo, hi = max(offset, VIDS_AT), min(end, GREF_AT)
        if lo < hi:
            first, last = (lo - VIDS_AT) // 4, (hi - VIDS_AT + 3) // 4
            words = bytearray(4 * (last - first))
            for index, vid in self.vids.items():
                if first <= index < last:
                    struct.pack_into("<I", words, 4 * (index - first), vid)
            skip = (lo - VIDS_AT) - 4 * first
            out += words[skip:skip + hi - lo]
        lo, hi = max(offset, GREF_AT), min(end, INODE_SIZE)
        if lo < hi:
            first, last = (lo - GREF_AT) // 8, (hi - GREF_AT + 7) // 8
            words = bytearray(8 * (last - first))
            for index, (generation, count) in self.gref.items():
                if first <= index < last:
                    struct.pack_into("<ii", words, 8 * (index - first), generation, count)
            skip = (lo - GREF_AT) - 8 * first
            out += words[skip:skip + hi - lo]
        return bytes(out)

    def write(self, offset, data):
        """Returns {index: (old vid, new vid)} for the data_vdi_id entries the write changed."""
        end = offset + len(data)
        if offset < HEADER_SIZE:
            n = min(end, HEADER_SIZE) - offset
            self.header[offset:offset + n] = data[:n]
        changed = {}
        lo, hi = max(offset, VIDS_AT), min(end, GREF_AT)
        if lo < hi:
            first, last = (lo - VIDS_AT) // 4, (hi - VIDS_AT + 3) // 4
            words = bytearray(self.read(VIDS_AT + 4 * first, 4 * (last - first)))
            start = lo - VIDS_AT - 4 * first
            words[start:start + hi - lo] = data[lo - offset:hi - offset]
            for i in range(last - first):
                index, vid = first + i, struct.unpack_from("<I", words, 4 * i)[0]
                old = self.vids.get(index, 0)
                if old != vid:
                    changed[index] = (old, vid)
                if vid:
                    self.vids[index] = vid
                else:
                    self.vids.pop(index, None)
        lo, hi = max(offset, GREF_AT), min(end, INODE_SIZE)
        if lo < hi:
            first, last = (lo - GREF_AT) // 8, (hi - GREF_AT + 7) // 8
            words = bytearray(self.read(GREF_AT + 8 * first, 8 * (last - first)))
            start = lo - GREF_AT - 8 * first
            words[start:start + hi - lo] = data[lo - offset:hi - offset]
            for i in range(last - first):
                generation, count = struct.unpack_from("<ii", words, 8 * i)
                if generation or count:
                    self.gref[first + i] = (generation, count)
                else:
                    self.gref.pop(first + i, None)
        return changed


class Cluster:
    def __init__(self, size):
        self.size = size
        self.formatted = False
        self.reset()

    def reset(self):
        self.objects = {}           # oid -> bytearray (data and attribute objects)
        self.inodes = {}            # vid -> Inode
        self.inuse = bytearray(NR_VDIS // 8)
        self.deleted = bytearray(NR_VDIS // 8)
        self.snapshots = set()      # vids that are snapshots (vdi_state's `snapshot`)
        self.copies, self.copy_policy, self.block_size_shift = 1, 0, 22
        self.ctime = 0

    # -- bitmaps
    @staticmethod
    def test(bitmap, i):
        return bitmap[i >> 3] >> (i & 7) & 1

    @staticmethod
    def mark(bitmap, i):
        bitmap[i >> 3] |= 1 << (i & 7)

    def next_zero(self, start):
        for i in range(start, NR_VDIS):
            if not self.test(self.inuse, i):
                return i
        return NR_VDIS

    # -- objects
    def used_bytes(self):
        return sum(len(o) for o in self.objects.values()) + HEADER_SIZE * len(self.inodes)

    def object_size(self, vid):
        inode = self.inodes.get(vid)
        return 1 << (inode.block_size_shift if inode else self.block_size_shift)

    def referenced(self, vid, index):
        return any(inode.vids.get(index) == vid for inode in self.inodes.values())

    def release(self, changed):
        """sheep/gateway.c: the objects an inode stopped referring to lose a reference; one no inode
        refers to any more is removed (the ledger's count reaching zero)."""
        for index, (old, new) in changed.items():
            if old and not self.referenced(old, index):
                self.objects.pop(data_oid(old, index), None)

    # -- VDI lookup (sheep/vdi.c vdi_lookup, without VID recycling)
    def lookup(self, name, tag=None, snapid=0):
        """(result, vid, free_bit, next snapid, create_time)."""
        left = hash_vdi(name) or 1
        right = self.next_zero(left)
        if left == right:
            return RES_NO_VDI, 0, right, 0, 0
        if right == NR_VDIS:
            right = self.next_zero(1)
            if right == NR_VDIS:
                return RES_FULL_VDI, 0, 0, 0, 0
        ranges = [(left, right)] if left < right else [(1, right), (left, NR_VDIS)]
        result = (RES_NO_VDI, 0, right, 0, 0)
        for lo, hi in ranges:
            found = self.fill_info(lo, hi, name, tag, snapid, right)
            if found[0] == RES_SUCCESS or found[0] not in (RES_NO_VDI, RES_NO_TAG):
                return found
            result = found if found[1] else result
        return result

    def fill_info(self, left, right, name, tag, snapid, free_bit):
        has_tag = bool(tag) or snapid != 0
        vdi_found, vid, next_snapid = False, 0, 0
        for i in range(right - 1, left - 1, -1):
            if i == 0:
                break
            if not self.test(self.inuse, i) and not self.test(self.deleted, i):
                continue
            inode = self.inodes.get(i)
            if inode is None or inode.name != name[:MAX_VDI_LEN]:
                continue
            if has_tag:
                if not inode.is_snapshot:
                    vdi_found, vid = True, inode.vdi_id
                    continue
                inode_tag = cstr(bytes(inode.header[H_TAG:H_TAG + 256]))
                if not ((inode_tag and inode_tag == tag) or snapid == inode.snap_id):
                    continue
            else:
                next_snapid = inode.snap_id + 1
                if inode.is_snapshot:
                    # the working VDI was deleted: its snapshots remain
                    return RES_NO_VDI, inode.vdi_id, free_bit, next_snapid, 0
            return RES_SUCCESS, inode.vdi_id, free_bit, next_snapid, inode.get(H_CREATE_TIME, "<Q")
        return (RES_NO_TAG if vdi_found else RES_NO_VDI), vid, free_bit, next_snapid, 0

    # -- VDI operations (sheep/ops.c cluster_new_vdi, sheep/vdi.c vdi_create / vdi_snapshot)
    def new_inode(self, name, size, vid, snapid, base_vid, copies, block_size_shift, source=None):
        inode = Inode()
        inode.header[H_NAME:H_NAME + 256] = name.encode()[:MAX_VDI_LEN].ljust(256, b"\0")
        now = time.time()
        inode.put(H_CREATE_TIME, "<Q", int(now) << 32 | int((now % 1) * 1e6) * 1000)
        inode.put(H_VDI_SIZE, "<Q", size)
        inode.header[H_NR_COPIES] = copies
        inode.header[H_BLOCK_SIZE_SHIFT] = block_size_shift
        inode.put(H_SNAP_ID, "<I", snapid)
        inode.put(H_VDI_ID, "<I", vid)
        inode.put(H_PARENT_VDI_ID, "<I", base_vid)
        if source is not None:
            inode.vids = dict(source.vids)
            inode.gref = {i: (source.gref.get(i, (0, 0))[0] + 1, 0) for i in source.vids}
        self.inodes[vid] = inode
        self.mark(self.inuse, vid)

    def new_vdi(self, name, size, base_vid, snapshot, copies, block_size_shift):
        copies = copies or self.copies
        block_size_shift = block_size_shift or self.block_size_shift
        result, vid, free_bit, next_snapid, _ = self.lookup(name)
        if not snapshot:
            if result == RES_SUCCESS:
                return RES_VDI_EXIST, 0
            if result != RES_NO_VDI:
                return result, 0
            source = None
            if base_vid:
                source = self.inodes.get(base_vid)
                if source is None:
                    return RES_BASE_VDI_READ, 0
                for i in source.vids:
                    generation, count = source.gref.get(i, (0, 0))
                    source.gref[i] = (generation, count + 1)
            self.new_inode(name, size, free_bit, next_snapid or 1, base_vid, copies, block_size_shift, source)
            return RES_SUCCESS, free_bit
        if result != RES_SUCCESS:
            return result, 0
        if base_vid != vid:
            return RES_INVALID_PARMS, 0     # a rollback (rebase): not simulated
        base = self.inodes[vid]
        now = time.time()
        base.put(H_SNAP_CTIME, "<Q", int(now) << 32 | int((now % 1) * 1e6) * 1000)
        for i in base.vids:
            generation, count = base.gref.get(i, (0, 0))
            base.gref[i] = (generation, count + 1)
        self.snapshots.add(vid)
        self.new_inode(name, size, free_bit, next_snapid, vid, copies, block_size_shift, base)
        return RES_SUCCESS, free_bit

    def del_vdi(self, name, tag, snapid):
        """sheep/vdi.c vdi_delete + delete_vdi_work: the client released the objects first (dog zeroes
        data_vdi_id); the inode stays, its name and size cleared, its id now also in `deleted`."""
        result, vid, _, _, _ = self.lookup(name, tag, snapid)
        if result != RES_SUCCESS:
            return result, 0
        inode = self.inodes[vid]
        if not inode.vids:
            inode.put(H_VDI_SIZE, "<Q", 0)
            inode.header[H_NAME:H_NAME + 256] = bytes(256)
            inode.gref = {}
        else:
            print(f"vid {vid:x} still has objects: not cleared", file=sys.stderr)
        self.mark(self.deleted, vid)
        return RES_SUCCESS, vid

    # -- attributes (sheep/vdi.c get_vdi_attr)
    def vdi_attr(self, data, wr, excl, delete, snapid):
        data = bytes(data).ljust(ATTR_HEADER, b"\0")
        name, tag = cstr(data[0:256]), cstr(data[256:512])
        result, _, _, _, create_time = self.lookup(name, tag, snapid)
        if result != RES_SUCCESS:
            return result, 0, 0
        vid = hash_vdi(name)
        data = bytearray(data)
        struct.pack_into("<Q", data, 512, create_time)
        hval = fnv_64a(data[0:256])
        hval = fnv_64a(data[256:512], hval)
        hval = fnv_64a(data[520:524], hval)
        hval = fnv_64a(data[528:784], hval)
        attrid = hval & 0xFFFFFFFF
        end = (attrid - 1) & 0xFFFFFFFF
        while attrid != end:
            oid = attr_oid(vid, attrid)
            existing = self.objects.get(oid) if (excl or not wr) else None
            if existing is None and (excl or not wr):
                if not wr:
                    return RES_NO_OBJ, vid, attrid
            if existing is None and wr:
                self.objects[oid] = bytearray(data)
                return RES_SUCCESS, vid, attrid
            header = bytes(existing[:ATTR_HEADER]).ljust(ATTR_HEADER, b"\0")
            if (cstr(header[0:256]) == name and cstr(header[256:512]) == tag
                    and header[520:524] == data[520:524] and cstr(header[528:784]) == cstr(data[528:784])):
                if excl:
                    return RES_VDI_EXIST, vid, attrid
                if delete:
                    existing[0:1] = b"\0"
                elif wr:
                    self.objects[oid] = bytearray(data)
                return RES_SUCCESS, vid, attrid
            attrid = (attrid + 1) & 0xFFFFFFFF
        return RES_FULL_VDI, vid, 0

    # -- object I/O
    def read_obj(self, oid, offset, length):
        if is_vdi_oid(oid):
            inode = self.inodes.get(oid_vid(oid))
            if inode is None:
                return RES_NO_OBJ, b""
            return RES_SUCCESS, inode.read(offset, min(length, max(0, INODE_SIZE - offset)))
        obj = self.objects.get(oid)
        if obj is None:
            return RES_NO_OBJ, b""
        # Objects are kept only as far as written (the real store's files are sparse too); the rest
        # of a data object reads as zeros.
        size = self.object_size(oid_vid(oid)) if is_data_oid(oid) else len(obj)
        data = bytes(obj[offset:offset + length])
        return RES_SUCCESS, data + bytes(max(0, min(length, size - offset) - len(data)))

    def write_obj(self, oid, offset, data, create, cow_oid):
        if is_data_oid(oid) and oid_vid(oid) in self.snapshots:
            return RES_READONLY
        if is_vdi_oid(oid):
            inode = self.inodes.get(oid_vid(oid))
            if inode is None:
                if not create:
                    return RES_NO_OBJ
                inode = self.inodes[oid_vid(oid)] = Inode()
            self.release(inode.write(offset, data))
            return RES_SUCCESS
        obj = self.objects.get(oid)
        if create:
            if len(data) + self.used_bytes() > self.size:
                return RES_NO_SPACE
            if cow_oid and cow_oid in self.objects:
                obj = bytearray(self.objects[cow_oid])
            else:
                obj = bytearray()
            self.objects[oid] = obj
        elif obj is None:
            return RES_NO_OBJ
        if offset + len(data) > len(obj):
            obj.extend(bytes(offset + len(data) - len(obj)))
        obj[offset:offset + len(data)] = data
        return RES_SUCCESS


class Server:
    def __init__(self, cluster, log):
        self.cluster = cluster
        self.log = log

    async def serve(self, reader, writer):
        try:
            while True:
                header = await reader.readexactly(48)
                proto, opcode, flags, _epoch, rid, length = struct.unpack_from("<BBHIII", header, 0)
                data = await reader.readexactly(length) if flags & FLAG_WRITE and length else b""
                result, extra, body = self.handle(proto, opcode, flags, header, data)
                if self.log:
                    self.log.write(f"{opcode:02x} {result:02x} {length} {len(body)}\n")
                    self.log.flush()
                rsp = bytearray(48)
                struct.pack_into("<BBHIII", rsp, 0, proto, opcode, 0, 0, rid, len(body))
                struct.pack_into("<I", rsp, 16, result)
                for offset, fmt, value in extra:
                    struct.pack_into(fmt, rsp, offset, value)
                writer.write(bytes(rsp) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            writer.close()

    def handle(self, proto, opcode, flags, header, data):
        c = self.cluster
        if proto > (SHEEP_PROTO_VER if opcode >= 0x80 else PROTO_VER) or (opcode >= 0x80 and proto != SHEEP_PROTO_VER):
            return RES_VER_MISMATCH, [], b""
        length = struct.unpack_from("<I", header, 12)[0]
        if opcode == OP_MAKE_FS:
            c.reset()
            c.copies, c.copy_policy = header[32] or 1, header[33]
            c.block_size_shift = header[44] or 22
            c.ctime = struct.unpack_from("<Q", header, 24)[0]
            c.formatted = True
            return RES_SUCCESS, [], b""
        if opcode == OP_STAT_SHEEP:
            used = c.used_bytes()
            return RES_SUCCESS, [(20, "<I", 1), (32, "<Q", c.size), (40, "<Q", max(0, c.size - used))], b""
        if not c.formatted:
            return RES_WAIT_FOR_FORMAT, [], b""
        if opcode in (OP_READ_OBJ, OP_WRITE_OBJ, OP_CREATE_AND_WRITE_OBJ, OP_REMOVE_OBJ):
            oid, cow_oid = struct.unpack_from("<QQ", header, 16)
            offset = struct.unpack_from("<I", header, 40)[0]
            if opcode == OP_READ_OBJ:
                result, body = c.read_obj(oid, offset, length)
                return result, [(40, "<Q", 0)], body
            if opcode == OP_REMOVE_OBJ:
                if oid in c.objects:
                    del c.objects[oid]
                    return RES_SUCCESS, [], b""
                return RES_NO_OBJ, [], b""
            return c.write_obj(oid, offset, data, opcode == OP_CREATE_AND_WRITE_OBJ,
                               cow_oid if flags & FLAG_COW else 0), [], b""
        if opcode == OP_NEW_VDI:
            if length != MAX_VDI_LEN:
                return RES_INVALID_PARMS, [], b""
            size, base_vid = struct.unpack_from("<QI", header, 16)
            copies, _policy, _store, bss = header[28], header[29], header[30], header[31]
            snapid = struct.unpack_from("<I", header, 32)[0]
            result, vid = c.new_vdi(cstr(data), size, base_vid, snapid != 0, copies, bss)
            return result, [(24, "<I", vid), (32, "<B", copies or c.copies), (33, "<B", bss or c.block_size_shift)], b""
        if opcode in (OP_GET_VDI_INFO, OP_DEL_VDI):
            if length not in (MAX_VDI_LEN, MAX_VDI_LEN + MAX_TAG_LEN):
                return RES_INVALID_PARMS, [], b""
            name = cstr(data[:256])
            tag = cstr(data[256:512]) if length > MAX_VDI_LEN else None
            snapid = struct.unpack_from("<I", header, 32)[0]
            if opcode == OP_DEL_VDI:
                result, vid = c.del_vdi(name, tag, snapid)
                return result, [(24, "<I", vid)], b""
            result, vid, _, _, _ = c.lookup(name, tag, snapid)
            if result != RES_SUCCESS:
                return result, [], b""
            inode = c.inodes[vid]
            return result, [(24, "<I", vid), (32, "<B", inode.header[H_NR_COPIES]), (33, "<B", inode.block_size_shift)], b""
        if opcode in (OP_READ_VDIS, OP_READ_DEL_VDIS):
            if length != NR_VDIS // 8:
                return RES_INVALID_PARMS, [], b""
            return RES_SUCCESS, [], bytes(c.inuse if opcode == OP_READ_VDIS else c.deleted)
        if opcode == OP_GET_CLUSTER_DEFAULT:
            return RES_SUCCESS, [(20, "<B", c.copies), (21, "<B", c.copy_policy), (22, "<B", c.block_size_shift)], b""
        if opcode == OP_GET_VDI_ATTR:
            snapid = struct.unpack_from("<I", header, 32)[0]
            result, vid, attrid = c.vdi_attr(data, bool(flags & FLAG_CREAT), bool(flags & FLAG_EXCL),
                                             bool(flags & FLAG_DEL), snapid)
            return result, [(24, "<I", vid), (28, "<I", attrid), (32, "<B", c.copies)], b""
        if opcode in (OP_LOCK_VDI, OP_RELEASE_VDI, OP_DISCARD_OBJ):
            return RES_SUCCESS, [], b""
        return RES_INVALID_PARMS, [], b""


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int)
    parser.add_argument("--size", type=int, default=16 << 30)
    parser.add_argument("--access-log")
    args = parser.parse_args()
    log = open(args.access_log, "a") if args.access_log else None
    server = Server(Cluster(args.size), log)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", args.port, limit=1 << 24)
    listeners = [listener]

    async def control(reader, writer):
        try:
            while (line := await reader.readline()).strip() == b"new":
                cluster = Cluster(args.size)
                cluster.formatted = True
                extra = await asyncio.start_server(Server(cluster, log).serve, "127.0.0.1", 0, limit=1 << 24)
                listeners.append(extra)
                writer.write(b"%d\n" % extra.sockets[0].getsockname()[1])
                await writer.drain()
        finally:
            writer.close()

    if args.control_port:
        listeners.append(await asyncio.start_server(control, "127.0.0.1", args.control_port))
    await asyncio.Event().wait()  # the listeners serve until the process is stopped


if __name__ == "__main__":
    asyncio.run(main())
