import CFuse
import Foundation
import Glibc
import GlanceStore
import StoreFS

/// Plain values of the file-system core → the C structures libfuse replies with.
enum Conversions {
    /// Tells `cp` and friends to move data in 1 MiB pieces, the size of one FUSE request.
    static let preferredBlockSize = 1 << 20

    static func stat(_ a: FileAttributes) -> Glibc.stat {
        var st = Glibc.stat()
        st.st_ino = ino_t(a.ino)
        st.st_mode = (a.isDirectory ? S_IFDIR : S_IFREG) | mode_t(a.permissions)
        st.st_nlink = a.isDirectory ? 2 : 1
        st.st_size = off_t(a.size)
        st.st_blocks = blkcnt_t((a.size + 511) / 512)
        st.st_blksize = blksize_t(preferredBlockSize)
        st.st_uid = a.uid
        st.st_gid = a.gid
        let time = a.modificationTime.timespec
        st.st_mtim = time
        st.st_atim = time
        st.st_ctim = time
        return st
    }

    static func entry(_ e: EntryReply) -> fuse_entry_param {
        var param = fuse_entry_param()
        param.ino = e.attributes.ino
        param.generation = 1
        param.attr = stat(e.attributes)
        param.attr_timeout = e.attributeTimeout
        param.entry_timeout = e.entryTimeout
        return param
    }
}
