// FUSE passthrough (Linux 6.9+) under libfuse 3.14, which predates it: the session's I/O goes
// through these two functions (libfuse's custom I/O), which add the two things libfuse cannot say.
// - INIT: when the kernel offers FUSE_PASSTHROUGH, the reply asks for it (flags2 bit 5) with a
//   stack depth of 1 (a file store's data directory is on an ordinary file system).
// - OPEN: a reply whose file handle was offered a backing file (storefs_passthrough_offer, by the
//   open handler before it replies) carries FOPEN_PASSTHROUGH and the backing id; the kernel then
//   reads that file itself and the read never reaches the daemon.
// Everything else is passed through unchanged. The layouts are the kernel's ABI (include/uapi/
// linux/fuse.h), written out here because Debian 12's headers predate passthrough.
#define _GNU_SOURCE
#include "storefs_system.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_OPEN = 14, OP_INIT = 26 };
enum { INIT_EXT = 1u << 30, FLAGS2_PASSTHROUGH = 1u << 5, FOPEN_PASSTHROUGH_FLAG = 1u << 7 };

struct in_header { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid; uint16_t extlen, pad; };
struct out_header { uint32_t len; int32_t error; uint64_t unique; };
struct init_in { uint32_t major, minor, max_readahead, flags, flags2; };
struct init_out_tail { uint32_t flags2, max_stack_depth; };   /* at offset 32 of fuse_init_out */
struct open_out { uint64_t fh; uint32_t open_flags; int32_t backing_id; };
struct backing_map { int32_t fd; uint32_t flags; uint64_t padding; };

#define BACKING_OPEN _IOW(229, 1, struct backing_map)
#define BACKING_CLOSE _IOW(229, 2, uint32_t)

static atomic_int offered;   /* the kernel offered passthrough in INIT */
static atomic_int enabled;   /* and our INIT reply asked for it */

/* Requests whose replies are changed: INIT and OPEN, by unique; and handles offered a backing id.
   Few are in flight at once (opens are answered in milliseconds), so small arrays scanned under
   one lock do. A full table drops the newest entry: that open is simply not passed through. */
#define SLOTS 512
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uint64_t unique; uint32_t opcode; } asked[SLOTS];
static struct { uint64_t fh; int32_t id; } offers[SLOTS];
static atomic_int pending;   /* entries in `asked`: replies are looked at only while some are */

static void remember(uint64_t unique, uint32_t opcode) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) if (asked[i].unique == 0) { asked[i].unique = unique; asked[i].opcode = opcode; atomic_fetch_add(&pending, 1); break; }
    pthread_mutex_unlock(&lock);
}

static uint32_t take_asked(uint64_t unique) {
    uint32_t opcode = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) if (asked[i].unique == unique) { opcode = asked[i].opcode; asked[i].unique = 0; atomic_fetch_sub(&pending, 1); break; }
    pthread_mutex_unlock(&lock);
    return opcode;
}

static int32_t take_offer(uint64_t fh) {
    int32_t id = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) if (offers[i].id != 0 && offers[i].fh == fh) { id = offers[i].id; offers[i].id = 0; break; }
    pthread_mutex_unlock(&lock);
    return id;
}

int storefs_passthrough_offer(uint64_t fh, int32_t backing_id) {
    int placed = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) if (offers[i].id == 0) { offers[i].fh = fh; offers[i].id = backing_id; placed = 1; break; }
    pthread_mutex_unlock(&lock);
    return placed;
}

void storefs_passthrough_withdraw(uint64_t fh) { (void)take_offer(fh); }

int storefs_passthrough_enabled(void) { return atomic_load(&enabled); }

int32_t storefs_passthrough_backing_open(int devfd, int fd) {
    struct backing_map map = { .fd = fd, .flags = 0, .padding = 0 };
    int id = ioctl(devfd, BACKING_OPEN, &map);
    return id > 0 ? id : -errno;
}

int storefs_passthrough_backing_close(int devfd, int32_t id) {
    uint32_t value = (uint32_t)id;
    return ioctl(devfd, BACKING_CLOSE, &value) == 0 ? 0 : -errno;
}

ssize_t storefs_passthrough_read(int fd, void *buf, size_t len, void *userdata) {
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    if (n >= (ssize_t)sizeof(struct in_header)) {
        const struct in_header *in = buf;
        if (in->opcode == OP_INIT && n >= (ssize_t)(sizeof *in + sizeof(struct init_in))) {
            const struct init_in *init = (const void *)((const char *)buf + sizeof *in);
            if ((init->flags & INIT_EXT) && (init->flags2 & FLAGS2_PASSTHROUGH)) atomic_store(&offered, 1);
            remember(in->unique, OP_INIT);
        } else if (in->opcode == OP_OPEN) {
            remember(in->unique, OP_OPEN);
        }
    }
    return n;
}

ssize_t storefs_passthrough_writev(int fd, struct iovec *iov, int count, void *userdata) {
    (void)userdata;
    if (atomic_load(&pending) > 0 && count >= 1 && iov[0].iov_len >= sizeof(struct out_header)) {
        const struct out_header *out = iov[0].iov_base;
        uint32_t opcode = out->unique != 0 ? take_asked(out->unique) : 0;
        if (out->error != 0 || count < 2) opcode = 0;
        if (opcode == OP_INIT && atomic_load(&offered) && iov[1].iov_len >= 32 + sizeof(struct init_out_tail)) {
            uint32_t flags;
            memcpy(&flags, (char *)iov[1].iov_base + 12, sizeof flags);
            if (flags & INIT_EXT) {
                struct init_out_tail *tail = (void *)((char *)iov[1].iov_base + 32);
                tail->flags2 |= FLAGS2_PASSTHROUGH;
                tail->max_stack_depth = 1;
                atomic_store(&enabled, 1);
            }
        } else if (opcode == OP_OPEN && iov[1].iov_len >= sizeof(struct open_out)) {
            struct open_out *open = iov[1].iov_base;
            int32_t id = take_offer(open->fh);
            if (id > 0) { open->open_flags |= FOPEN_PASSTHROUGH_FLAG; open->backing_id = id; }
        }
    }
    return writev(fd, iov, count);
}

ssize_t storefs_passthrough_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                                        unsigned int flags, void *userdata) {
    (void)userdata;
    return splice(fdin, offin, fdout, offout, len, flags);
}
