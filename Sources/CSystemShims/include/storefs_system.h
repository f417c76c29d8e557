#pragma once
#include <sys/types.h>

/* Linux calls that Swift's Glibc module does not expose (they need _GNU_SOURCE or are variadic). */

/* An unnamed file in directory `dirfd` (O_TMPFILE): it vanishes by itself if the process dies, so an
 * unfinished image can never be left behind. -1 with errno EOPNOTSUPP/EISDIR/EINVAL where the file
 * system lacks O_TMPFILE. */
int storefs_open_tmpfile(int dirfd, mode_t mode);

/* Gives the unnamed file `fd` the name `name` in `dirfd`; fails with EEXIST if the name is taken. */
int storefs_link_tmpfile(int fd, int dirfd, const char *name);

/* rename that fails with EEXIST instead of replacing (renameat2 RENAME_NOREPLACE). */
int storefs_rename_noreplace(int olddirfd, const char *oldname, int newdirfd, const char *newname);

#include <sys/xattr.h>
#include <sys/stat.h>

/* UTIME_OMIT is a macro Swift does not import. */
static const long storefs_utime_omit = UTIME_OMIT;

/* Starts writeback of a byte range without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so the
 * fdatasync before publishing an image waits only for the tail. */
int storefs_start_writeback(int fd, off_t offset, off_t length);

/* syslog(3) is variadic, which Swift cannot call. */
void storefs_syslog(int priority, const char *message);

/* Starts `path` with `argv` in a new session (setsid), standard streams inherited: how `mount`
 * daemonizes without fork() once threads exist. Returns the pid or -errno. */
int storefs_spawn_daemon(const char *path, char *const argv[]);
/* "ENOENT" for ENOENT (glibc's strerrorname_np, which Swift's Glibc module does not expose); NULL if unknown. */
const char *storefs_errno_name(int code);


/* FUSE passthrough under libfuse 3.14 (storefs_passthrough.c): the session's custom I/O, which
 * asks the kernel for passthrough in INIT and adds a backing file to the OPEN replies offered one. */
#include <stdint.h>
#include <sys/uio.h>
ssize_t storefs_passthrough_read(int fd, void *buf, size_t len, void *userdata);
ssize_t storefs_passthrough_writev(int fd, struct iovec *iov, int count, void *userdata);
ssize_t storefs_passthrough_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                                        unsigned int flags, void *userdata);
/* 1 once INIT negotiated passthrough. */
int storefs_passthrough_enabled(void);
/* Registers a backing file in the kernel (FUSE_DEV_IOC_BACKING_OPEN on the session's descriptor):
 * its id (> 0), or -errno. Needs CAP_SYS_ADMIN. */
int32_t storefs_passthrough_backing_open(int devfd, int fd);
int storefs_passthrough_backing_close(int devfd, int32_t id);
/* The reply to the open of handle `fh` carries backing `id`; 0 when no slot was free. */
int storefs_passthrough_offer(uint64_t fh, int32_t id);
/* An offer not sent (the open failed before its reply). */
void storefs_passthrough_withdraw(uint64_t fh);
