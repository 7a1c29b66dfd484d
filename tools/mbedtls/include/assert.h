/* Freestanding <assert.h>: a failed assertion aborts through the host. */
#ifndef FLEET_ASSERT_H
#define FLEET_ASSERT_H
#include <stdlib.h>
#define assert(condition) ((condition) ? (void) 0 : abort())
#endif
