// librbd and librados (Debian's librbd-dev / librados-dev). They ship no pkg-config files, so the
// module map links both libraries by name.
#ifndef STOREFS_CRBD_SHIM_H
#define STOREFS_CRBD_SHIM_H
#include <rados/librados.h>
#include <rbd/librbd.h>
#endif
