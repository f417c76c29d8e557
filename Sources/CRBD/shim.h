// librbd and librados (Debian's librbd-dev / librados-dev). They ship no pkg-config files, so the
// module map links both libraries by name.
#ifndef STOREFS_CRBD_SHIM_H
#define STOREFS_CRBD_SHIM_H
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Listing without opening every image: librbd has no listing with sizes, and opening an image costs
// several round trips (header, object map...). A format-2 image's header object `rbd_header.<id>`
// keeps its size, modify timestamp and image metadata as omap values (Ceph's little-endian
// encoding), so one read op per image, all in flight at once, gives what a listing needs.
// For each image k: results[k] is 0, or a negative errno (-ENODATA: not a header this knows);
// mtimes[k] is the value of metadata key `mtime_key` (malloc'd) or NULL.
static inline void storefs_read_headers(rados_ioctx_t io, const char *const *ids, size_t n, const char *mtime_key,
                                        uint64_t *sizes, uint32_t *secs, uint32_t *nsecs, char **mtimes, int *results) {
    char metadata_key[256];
    snprintf(metadata_key, sizeof metadata_key, "metadata_%s", mtime_key);
    const char *keys[3] = {"size", "modify_timestamp", metadata_key};
    size_t lens[3] = {4, 16, strlen(metadata_key)};
    enum { BATCH = 256 };
    rados_read_op_t ops[BATCH];
    rados_completion_t completions[BATCH];
    rados_omap_iter_t iters[BATCH];
    int prvals[BATCH];
    for (size_t start = 0; start < n; start += BATCH) {
        size_t count = n - start < BATCH ? n - start : BATCH;
        for (size_t i = 0; i < count; i++) {
            size_t k = start + i;
            char oid[256];
            snprintf(oid, sizeof oid, "rbd_header.%s", ids[k]);
            ops[i] = rados_create_read_op();
            iters[i] = NULL;
            prvals[i] = 0;
            completions[i] = NULL;
            rados_read_op_omap_get_vals_by_keys2(ops[i], keys, 3, lens, &iters[i], &prvals[i]);
            results[k] = rados_aio_create_completion2(NULL, NULL, &completions[i]);
            if (results[k] == 0) results[k] = rados_aio_read_op_operate(ops[i], io, completions[i], oid, 0);
        }
        for (size_t i = 0; i < count; i++) {
            size_t k = start + i;
            sizes[k] = 0; secs[k] = 0; nsecs[k] = 0; mtimes[k] = NULL;
            if (results[k] == 0) {
                rados_aio_wait_for_complete(completions[i]);
                results[k] = rados_aio_get_return_value(completions[i]);
                if (results[k] == 0) results[k] = prvals[i];
            }
            if (results[k] == 0 && iters[i] != NULL) {
                int found_size = 0;
                for (;;) {
                    char *key = NULL, *val = NULL;
                    size_t key_len = 0, val_len = 0;
                    if (rados_omap_get_next2(iters[i], &key, &val, &key_len, &val_len) < 0 || key == NULL) break;
                    if (key_len == lens[0] && memcmp(key, keys[0], key_len) == 0 && val_len == 8) {
                        memcpy(&sizes[k], val, 8);
                        found_size = 1;
                    } else if (key_len == lens[1] && memcmp(key, keys[1], key_len) == 0 && val_len == 8) {
                        memcpy(&secs[k], val, 4);
                        memcpy(&nsecs[k], val + 4, 4);
                    } else if (key_len == lens[2] && memcmp(key, keys[2], key_len) == 0) {
                        mtimes[k] = strndup(val, val_len);
                    }
                }
                if (!found_size) results[k] = -ENODATA;
            } else if (results[k] == 0) {
                results[k] = -ENODATA;
            }
            if (iters[i] != NULL) rados_omap_get_end(iters[i]);
            if (completions[i] != NULL) rados_aio_release(completions[i]);
            rados_release_read_op(ops[i]);
        }
    }
}

// The id of a format-2 image from its `rbd_id.<name>` object (an encoded string: le32 length, bytes):
// one small read instead of an open. Returns the id's length, or a negative errno.
static inline int storefs_image_id(rados_ioctx_t io, const char *name, char *id, size_t id_size) {
    char oid[512], buffer[256];
    snprintf(oid, sizeof oid, "rbd_id.%s", name);
    int n = rados_read(io, oid, buffer, sizeof buffer, 0);
    if (n < 0) return n;
    if (n < 4) return -ENODATA;
    uint32_t length;
    memcpy(&length, buffer, 4);
    if (length + 4 > (uint32_t)n || length + 1 > id_size) return -ENODATA;
    memcpy(id, buffer + 4, length);
    id[length] = 0;
    return (int)length;
}
#endif
