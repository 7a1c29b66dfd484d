/* Freestanding <stdlib.h>: the allocator of fleet_malloc.c and an abort that calls the host. */
#ifndef FLEET_STDLIB_H
#define FLEET_STDLIB_H
#include <stddef.h>
void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void free(void *ptr);
_Noreturn void abort(void);
#endif
