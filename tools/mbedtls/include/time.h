/* Freestanding <time.h>: wall-clock seconds from the host's now_ms import (certificate
 * validity, cookie age); calendar conversion in fleet_libc.c. */
#ifndef FLEET_TIME_H
#define FLEET_TIME_H
#include <stddef.h>
typedef long long time_t;
struct tm {
    int tm_sec, tm_min, tm_hour, tm_mday, tm_mon, tm_year, tm_wday, tm_yday, tm_isdst;
};
time_t time(time_t *out);
#endif
