/* SPDX-License-Identifier: MIT */
/* Scratch directories for unit tests that need real files. */
#ifndef SKIFF_TESTS_TMPDIR_H
#define SKIFF_TESTS_TMPDIR_H

#include <stddef.h>

/* A new directory skiff-TAG-XXXXXX in parent (NULL: $TMPDIR or /tmp); 0 or -1. */
int tmpdir_make(char *dir, size_t len, const char *parent, const char *tag);

/* A file NAME in dir holding one byte; its path goes to path. 0 or -1. */
int tmpdir_file(const char *dir, const char *name, char *path, size_t len);

/* dir and everything in it: what tests made, and what a failed one left. */
int tmpdir_remove(const char *dir);

#endif
