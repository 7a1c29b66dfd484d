/* Freestanding <inttypes.h>: the fixed-width types and the few format macros mbedTLS names. */
#ifndef FLEET_INTTYPES_H
#define FLEET_INTTYPES_H
#include <stdint.h>
#define PRId64 "lld"
#define PRIu64 "llu"
#define PRIx64 "llx"
#endif
