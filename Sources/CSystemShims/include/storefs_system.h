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

