// libfuse3's low-level API for Swift. FUSE_USE_VERSION 312 selects the loop-config ABI that
// fuse_loop_cfg_create() builds (under 35 the macro picks fuse_session_loop_mt_32, which reads the
// config as the old struct: clone_fd on and idle workers destroyed, a thread started per request). Swift cannot call C macros or set C bit-fields reliably, so the
// few that glance-storefs needs are wrapped here as static inline functions.
#ifndef STOREFS_CFUSE_SHIM_H
#define STOREFS_CFUSE_SHIM_H
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <errno.h>
#include <stddef.h>

static inline int storefs_session_loop_mt(struct fuse_session *se, unsigned max_threads) {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, max_threads);
    fuse_loop_cfg_set_clone_fd(config, 0);
    int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    return rc;
}

static inline void storefs_fi_set_keep_cache(struct fuse_file_info *fi, int on) { fi->keep_cache = on ? 1 : 0; }
static inline void storefs_fi_set_direct_io(struct fuse_file_info *fi, int on) { fi->direct_io = on ? 1 : 0; }
static inline void storefs_fi_set_cache_readdir(struct fuse_file_info *fi, int on) { fi->cache_readdir = on ? 1 : 0; }
static inline void storefs_fi_set_noflush(struct fuse_file_info *fi, int on) { fi->noflush = on ? 1 : 0; }

/// Replies with `size` bytes of `fd` at `offset`, spliced by the kernel where it can (no copy
/// through user space): what libfuse's passthrough_ll does.
static inline int storefs_reply_fd(fuse_req_t req, int fd, size_t size, off_t offset) {
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = fd;
    buf.buf[0].pos = offset;
    return fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static inline struct fuse_args storefs_args_init(int argc, char **argv) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    return args;
}
#endif
