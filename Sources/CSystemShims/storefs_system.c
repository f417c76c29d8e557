#define _GNU_SOURCE
#include "storefs_system.h"
#include <fcntl.h>
#include <stdio.h>
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
