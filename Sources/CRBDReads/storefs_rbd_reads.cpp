#include "storefs_rbd_reads.h"

#include <cerrno>
#include <new>
#include <rbd/librbd.hpp>

struct storefs_rbd_reader {
    librbd::Image image;
};

struct storefs_rbd_extent {
    ceph::bufferlist bytes;
};

namespace {
struct PendingRead {
    storefs_rbd_extent *extent;
    storefs_rbd_read_done done;
    void *argument;
};

void finished(librbd::completion_t completion, void *argument) {
    auto *aio = static_cast<librbd::RBD::AioCompletion *>(completion);
    auto *read = static_cast<PendingRead *>(argument);
    long result = static_cast<long>(aio->get_return_value());
    aio->release();
    storefs_rbd_extent *extent = read->extent;
    if (result < 0) {
        delete extent;
        extent = nullptr;
    }
    read->done(read->argument, result, extent);
    delete read;
}
}  // namespace

extern "C" int storefs_rbd_reader_open(rados_ioctx_t io, const char *name, storefs_rbd_reader **reader) {
    auto *opened = new (std::nothrow) storefs_rbd_reader;
    if (opened == nullptr) return -ENOMEM;
    librados::IoCtx ioctx;
    librados::IoCtx::from_rados_ioctx_t(io, ioctx);
    librbd::RBD rbd;
    int rc = rbd.open_read_only(ioctx, opened->image, name, nullptr);
    if (rc < 0) {
        delete opened;
        return rc;
    }
    *reader = opened;
    return 0;
}

extern "C" int storefs_rbd_reader_size(storefs_rbd_reader *reader, uint64_t *size) {
    return reader->image.size(size);
}

extern "C" void storefs_rbd_reader_close(storefs_rbd_reader *reader) {
    reader->image.close();
    delete reader;
}

extern "C" int storefs_rbd_reader_read(storefs_rbd_reader *reader, uint64_t offset, size_t length, int streaming,
                                       storefs_rbd_read_done done, void *argument) {
    auto *read = new (std::nothrow) PendingRead{new (std::nothrow) storefs_rbd_extent, done, argument};
    if (read == nullptr || read->extent == nullptr) {
        if (read != nullptr) delete read;
        return -ENOMEM;
    }
    auto *aio = new librbd::RBD::AioCompletion(read, finished);
    int flags = streaming ? LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE_NOCACHE : 0;
    int rc = reader->image.aio_read2(offset, length, read->extent->bytes, aio, flags);
    if (rc < 0) {
        aio->release();
        delete read->extent;
        delete read;
    }
    return rc < 0 ? rc : 0;
}

extern "C" size_t storefs_rbd_extent_segments(const storefs_rbd_extent *extent, struct iovec *segments, size_t max) {
    size_t count = 0;
    for (const auto &piece : extent->bytes.buffers()) {
        if (piece.length() == 0) continue;
        if (count < max) segments[count] = iovec{const_cast<char *>(piece.c_str()), piece.length()};
        count++;
    }
    return count;
}

extern "C" void storefs_rbd_extent_free(storefs_rbd_extent *extent) { delete extent; }
