#define _GNU_SOURCE
#include "storefs_system.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>

int storefs_open_tmpfile(int dirfd, mode_t mode) {
    return openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
}

int storefs_link_tmpfile(int fd, int dirfd, const char *name) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW);
}

int storefs_rename_noreplace(int olddirfd, const char *oldname, int newdirfd, const char *newname) {
    return (int)syscall(SYS_renameat2, olddirfd, oldname, newdirfd, newname, RENAME_NOREPLACE);
}

int storefs_start_writeback(int fd, off_t offset, off_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

#include <syslog.h>
#include <spawn.h>
#include <errno.h>

extern char **environ;

void storefs_syslog(int priority, const char *message) {
    syslog(priority, "%s", message);
}

int storefs_spawn_daemon(const char *path, char *const argv[]) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    pid_t pid;
    int rc = posix_spawn(&pid, path, NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? pid : -rc;
}

const char *storefs_errno_name(int code) {
    return strerrorname_np(code);
}
