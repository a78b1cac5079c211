/* SPDX-License-Identifier: MIT */
#ifndef SKIFF_DEVICES_VIRTIO_BLK_H
#define SKIFF_DEVICES_VIRTIO_BLK_H

#include <stddef.h>

struct vm;

/*
 * Put disk idx (the idx-th --disk) on the image at path, with the disk's
 * read-only and cache modes: requests in flight finish on the old image,
 * later ones go to the new one, and the guest gets a configuration change
 * (capacity). 0, or -errno with the reason in err and nothing changed.
 */
int virtio_blk_swap(struct vm *vm, unsigned int idx, const char *path, char *err,
		    size_t errlen);

#endif
