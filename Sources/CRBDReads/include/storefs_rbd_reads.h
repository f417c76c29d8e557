#pragma once
/* Reads of an rbd image into librbd's own buffers (its C++ API), for the rbd store's reader.
 *
 * librbd's C API copies every byte read into the caller's buffer; its C++ API hands over the
 * buffers the messenger received them in. Passed to the kernel as they are, they spare a copy of
 * every byte (and the page faults of a fresh 8 MiB buffer per object): on two cores shared with
 * the OSD that copy is a tenth of the machine. */
#include <rados/librados.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An image opened read-only. Thread-safe; close only when no read is in flight. */
typedef struct storefs_rbd_reader storefs_rbd_reader;
/* The bytes of one finished read, in librbd's buffers: immutable, valid until freed. */
typedef struct storefs_rbd_extent storefs_rbd_extent;

/* 0 or a negative errno. */
int storefs_rbd_reader_open(rados_ioctx_t io, const char *name, storefs_rbd_reader **reader);
int storefs_rbd_reader_size(storefs_rbd_reader *reader, uint64_t *size);
void storefs_rbd_reader_close(storefs_rbd_reader *reader);

/* Called once, on a librbd thread, with the bytes read (`result` >= 0, `extent` to be freed by the
 * callee) or a negative errno (`extent` NULL). */
typedef void (*storefs_rbd_read_done)(void *argument, long result, storefs_rbd_extent *extent);

/* Starts reading `length` bytes at `offset`; 0, or a negative errno (then `done` is not called).
 * `streaming`: part of a sequential read of the image, hinted to the OSDs as `rbd export` does
 * (LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | NOCACHE: bluestore neither keeps the data in its cache
 * nor reads it through the page cache of its device). */
int storefs_rbd_reader_read(storefs_rbd_reader *reader, uint64_t offset, size_t length, int streaming,
                            storefs_rbd_read_done done, void *argument);

/* The extent's segments in order: how many there are; the first `max` written to `segments`. */
size_t storefs_rbd_extent_segments(const storefs_rbd_extent *extent, struct iovec *segments, size_t max);
void storefs_rbd_extent_free(storefs_rbd_extent *extent);

#ifdef __cplusplus
}
#endif
