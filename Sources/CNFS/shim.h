// libnfs (Debian libnfs-dev): the cinder store's NFS transport, a userspace NFSv3 client (no kernel
// mount, no root helper).
#ifndef STOREFS_CNFS_SHIM_H
#define STOREFS_CNFS_SHIM_H
#include <stdint.h>
#include <fcntl.h>
#include <sys/time.h>
#include <nfsc/libnfs.h>
#endif
