/* The module's heap: a boundary-tag allocator with immediate coalescing over wasm linear
 * memory, growing it with memory.grow. Freed sessions return their bytes to the free lists,
 * so heap in use goes back to its baseline (the soak test checks it); pages once grown stay
 * (wasm memory cannot shrink) and are reused.
 *
 * Chunk: [u32 prev_size][u32 head][payload...]; head = size (multiple of 8, header
 * included) | INUSE | PREV_INUSE. prev_size is valid only while the previous chunk is free.
 * Free chunks hold next/prev links in their payload and sit in one of 127 exact bins
 * (16..1016 bytes) or 22 power-of-two bins. The last chunk is the "top" (wilderness): free,
 * never binned, grown from memory.grow. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include "fleet_host.h"

#define ALIGN 8u
#define HEADER 8u
#define MIN_CHUNK 16u
#define INUSE 1u
#define PREV_INUSE 2u
#define FLAGS 7u
#define PAGE 65536u

#define SMALL_BINS 128u  /* index = size / 8, sizes 16..1016 */
#define SMALL_LIMIT 1024u
#define LARGE_BINS 22u   /* index = floor(log2(size)) - 10, sizes 1024..2^32 */

typedef struct chunk {
    uint32_t prev_size;
    uint32_t head;
    struct chunk *next; /* free chunks only */
    struct chunk *prev;
} chunk;

extern unsigned char __heap_base;

static chunk *small_bins[SMALL_BINS];
static chunk *large_bins[LARGE_BINS];
static uint32_t small_map[SMALL_BINS / 32];
static uint32_t large_map;
static chunk *heap_first;
static chunk *top;
static size_t heap_end;
static size_t in_use_bytes;
static size_t peak_bytes;
static size_t live_allocations;

static inline uint32_t size_of(const chunk *c) { return c->head & ~FLAGS; }
static inline chunk *next_chunk(const chunk *c) { return (chunk *) ((unsigned char *) c + size_of(c)); }
static inline chunk *prev_chunk(const chunk *c) { return (chunk *) ((unsigned char *) c - c->prev_size); }
static inline void *payload(chunk *c) { return (unsigned char *) c + HEADER; }
static inline chunk *chunk_of(void *p) { return (chunk *) ((unsigned char *) p - HEADER); }

static unsigned large_index(uint32_t size)
{
    unsigned log2 = 31u - (unsigned) __builtin_clz(size);
    return log2 - 10u;
}

static void bin_insert(chunk *c)
{
    uint32_t size = size_of(c);
    chunk **bin;
    if (size < SMALL_LIMIT) {
        unsigned i = size / ALIGN;
        bin = &small_bins[i];
        small_map[i / 32] |= 1u << (i % 32);
    } else {
        unsigned i = large_index(size);
        bin = &large_bins[i];
        large_map |= 1u << i;
    }
    c->prev = NULL;
    c->next = *bin;
    if (*bin != NULL) {
        (*bin)->prev = c;
    }
    *bin = c;
}

static void bin_remove(chunk *c)
{
    uint32_t size = size_of(c);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else if (size < SMALL_LIMIT) {
        unsigned i = size / ALIGN;
        small_bins[i] = c->next;
        if (c->next == NULL) {
            small_map[i / 32] &= ~(1u << (i % 32));
        }
    } else {
        unsigned i = large_index(size);
        large_bins[i] = c->next;
        if (c->next == NULL) {
            large_map &= ~(1u << i);
        }
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
}

static int heap_init(void)
{
    size_t start = ((size_t) &__heap_base + ALIGN - 1) & ~(size_t) (ALIGN - 1);
    heap_end = __builtin_wasm_memory_size(0) * PAGE;
    if (heap_end < start + MIN_CHUNK) {
        if (__builtin_wasm_memory_grow(0, 1) == (size_t) -1) {
            return -1;
        }
        heap_end = __builtin_wasm_memory_size(0) * PAGE;
    }
    heap_first = top = (chunk *) start;
    top->prev_size = 0;
    top->head = (uint32_t) (heap_end - start) | PREV_INUSE;
    return 0;
}

/* Makes top at least `need` bytes (plus room for the next top header). */
static int grow_top(uint32_t need)
{
    size_t have = size_of(top);
    size_t want = (size_t) need + MIN_CHUNK;
    if (have >= want) {
        return 0;
    }
    size_t pages = (want - have + PAGE - 1) / PAGE;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t) -1) {
        return -1;
    }
    heap_end += pages * PAGE;
    top->head = (uint32_t) (heap_end - (size_t) top) | (top->head & PREV_INUSE);
    return 0;
}

static chunk *take_from_bins(uint32_t need)
{
    if (need < SMALL_LIMIT) {
        unsigned i = need / ALIGN;
        for (unsigned word = i / 32; word < SMALL_BINS / 32; word++) {
            uint32_t bits = small_map[word];
            if (word == i / 32) {
                bits &= ~0u << (i % 32);
            }
            if (bits != 0) {
                chunk *c = small_bins[word * 32 + (unsigned) __builtin_ctz(bits)];
                bin_remove(c);
                return c;
            }
        }
    }
    unsigned first = need < SMALL_LIMIT ? 0 : large_index(need);
    /* The bin of `need` holds sizes in [2^k, 2^(k+1)): search it for a fit (best of the first
     * few); any chunk of a higher bin fits. */
    if (need >= SMALL_LIMIT && (large_map & (1u << first)) != 0) {
        chunk *best = NULL;
        unsigned looked = 0;
        for (chunk *c = large_bins[first]; c != NULL && looked < 16; c = c->next, looked++) {
            if (size_of(c) >= need && (best == NULL || size_of(c) < size_of(best))) {
                best = c;
            }
        }
        if (best != NULL) {
            bin_remove(best);
            return best;
        }
        first++;
    }
    uint32_t bits = first < LARGE_BINS ? large_map & (~0u << first) : 0;
    if (bits != 0) {
        chunk *c = large_bins[__builtin_ctz(bits)];
        bin_remove(c);
        return c;
    }
    return NULL;
}

/* Splits c (already out of the bins, marked in use) to `need` bytes when the rest can form
 * a chunk of its own, and frees the rest into a bin. */
static void split(chunk *c, uint32_t need)
{
    uint32_t size = size_of(c);
    if (size - need < MIN_CHUNK) {
        return;
    }
    chunk *rest = (chunk *) ((unsigned char *) c + need);
    c->head = need | (c->head & FLAGS);
    rest->head = (size - need) | PREV_INUSE;
    chunk *after = next_chunk(rest);
    after->prev_size = size - need;
    after->head &= ~PREV_INUSE;
    bin_insert(rest);
}

void *malloc(size_t size)
{
    if (heap_first == NULL && heap_init() != 0) {
        return NULL;
    }
    if (size > 0x7fff0000u) {
        return NULL;
    }
    uint32_t need = (uint32_t) ((size + HEADER + ALIGN - 1) & ~(size_t) (ALIGN - 1));
    if (need < MIN_CHUNK) {
        need = MIN_CHUNK;
    }
    chunk *c = take_from_bins(need);
    if (c != NULL) {
        c->head |= INUSE;
        next_chunk(c)->head |= PREV_INUSE;
        split(c, need);
    } else {
        if (grow_top(need) != 0) {
            return NULL;
        }
        c = top;
        uint32_t top_size = size_of(top);
        top = (chunk *) ((unsigned char *) c + need);
        top->head = (top_size - need) | PREV_INUSE;
        c->head = need | INUSE | (c->head & PREV_INUSE);
    }
    in_use_bytes += size_of(c);
    live_allocations++;
    if (in_use_bytes > peak_bytes) {
        peak_bytes = in_use_bytes;
    }
    return payload(c);
}

void *calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    void *p = malloc(count * size);
    if (p != NULL) {
        memset(p, 0, count * size);
    }
    return p;
}

void free(void *p)
{
    if (p == NULL) {
        return;
    }
    chunk *c = chunk_of(p);
    if ((size_t) c < (size_t) heap_first || (size_t) c >= (size_t) top) {
        fleet_host_abort(FLEET_ABORT_HEAP_CORRUPT);
    }
    if ((c->head & INUSE) == 0) {
        fleet_host_abort(FLEET_ABORT_DOUBLE_FREE);
    }
    uint32_t size = size_of(c);
    in_use_bytes -= size;
    live_allocations--;
    c->head &= ~INUSE;
    if ((c->head & PREV_INUSE) == 0) {
        chunk *before = prev_chunk(c);
        bin_remove(before);
        size += size_of(before);
        before->head = size | (before->head & PREV_INUSE);
        c = before;
    }
    chunk *after = next_chunk(c);
    if (after == top) {
        c->head = (size + size_of(top)) | (c->head & PREV_INUSE);
        top = c;
        return;
    }
    if ((after->head & INUSE) == 0) {
        bin_remove(after);
        size += size_of(after);
        c->head = size | (c->head & PREV_INUSE);
        after = next_chunk(c);
    }
    after->prev_size = size;
    after->head &= ~PREV_INUSE;
    bin_insert(c);
}

FLEET_API void *fleet_malloc(size_t size) { return malloc(size); }
FLEET_API void fleet_free(void *p) { free(p); }
FLEET_API size_t fleet_heap_in_use(void) { return in_use_bytes; }
FLEET_API size_t fleet_heap_peak(void) { return peak_bytes; }
FLEET_API size_t fleet_heap_allocations(void) { return live_allocations; }
FLEET_API size_t fleet_heap_size(void) { return heap_first == NULL ? 0 : heap_end - (size_t) heap_first; }

/* Walks every chunk and every bin; returns 0 when the heap is consistent, else a code
 * naming the first broken rule (for tests). */
FLEET_API int fleet_heap_check(void)
{
    if (heap_first == NULL) {
        return 0;
    }
    size_t used = 0, free_binned = 0, count = 0;
    int prev_free = 0;
    uint32_t prev_size = 0;
    chunk *c = heap_first;
    while (c != top) {
        uint32_t size = size_of(c);
        if (size < MIN_CHUNK || size % ALIGN != 0 || (size_t) c + size > (size_t) top) return 1;
        if (((c->head & PREV_INUSE) != 0) == prev_free) return 2;
        if (prev_free && c->prev_size != prev_size) return 3;
        int is_free = (c->head & INUSE) == 0;
        if (is_free && prev_free) return 4; /* two free neighbours were not coalesced */
        if (is_free) free_binned += size;
        else {
            used += size;
            count++;
        }
        prev_free = is_free;
        prev_size = size;
        c = next_chunk(c);
    }
    if (((top->head & PREV_INUSE) != 0) == prev_free) return 5;
    if ((size_t) top + size_of(top) != heap_end) return 6;
    if (used != in_use_bytes || count != live_allocations) return 7;
    size_t in_bins = 0;
    for (unsigned i = 0; i < SMALL_BINS; i++) {
        if ((small_bins[i] != NULL) != ((small_map[i / 32] >> (i % 32)) & 1u)) return 8;
        for (chunk *f = small_bins[i]; f != NULL; f = f->next) {
            if ((f->head & INUSE) != 0 || size_of(f) / ALIGN != i) return 9;
            if (f->next != NULL && f->next->prev != f) return 10;
            in_bins += size_of(f);
        }
    }
    for (unsigned i = 0; i < LARGE_BINS; i++) {
        if ((large_bins[i] != NULL) != ((large_map >> i) & 1u)) return 8;
        for (chunk *f = large_bins[i]; f != NULL; f = f->next) {
            if ((f->head & INUSE) != 0 || size_of(f) < SMALL_LIMIT || large_index(size_of(f)) != i) return 9;
            if (f->next != NULL && f->next->prev != f) return 10;
            in_bins += size_of(f);
        }
    }
    if (in_bins != free_binned) return 11;
    return 0;
}
