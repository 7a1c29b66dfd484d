/* Test-only exports, linked into build/mbedtls-dtls-test.wasm and never into the module
 * that ships: the calendar conversion and the formatter of fleet_libc.c, for
 * test/unit/dtls/wasm-libc.test.ts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "mbedtls/build_info.h"
#include "mbedtls/platform_time.h"
#include "mbedtls/platform_util.h"
#include "fleet_host.h"

FLEET_API int fleet_test_gmtime(int64_t t, int *out)
{
    struct tm tm;
    mbedtls_time_t tt = (mbedtls_time_t) t;
    if (mbedtls_platform_gmtime_r(&tt, &tm) == NULL) {
        return -1;
    }
    out[0] = tm.tm_year;
    out[1] = tm.tm_mon;
    out[2] = tm.tm_mday;
    out[3] = tm.tm_hour;
    out[4] = tm.tm_min;
    out[5] = tm.tm_sec;
    out[6] = tm.tm_wday;
    out[7] = tm.tm_yday;
    return 0;
}

/* Formats one of a fixed set of cases with the given arguments (variadic calls cannot come
 * from JS); returns vsnprintf's result. */
FLEET_API int fleet_test_format(char *buf, size_t size, int which, int64_t number, const char *text)
{
    switch (which) {
        case 0: return snprintf(buf, size, "%d|%5d|%-5d|%05d|%+d|% d", (int) number, (int) number,
                                (int) number, (int) number, (int) number, (int) number);
        case 1: return snprintf(buf, size, "%u|%x|%X|%#x|%o|%08X|%.3u", (unsigned) number,
                                (unsigned) number, (unsigned) number, (unsigned) number,
                                (unsigned) number, (unsigned) number, (unsigned) number);
        case 2: return snprintf(buf, size, "%lld|%llu|%zu|%ld", (long long) number,
                                (unsigned long long) number, (size_t) number, (long) number);
        case 3: return snprintf(buf, size, "[%s]|[%10s]|[%-10s]|[%.3s]|[%c]|%%", text, text, text,
                                text, text[0]);
        case 4: return snprintf(buf, size, "%02X:%02X", (unsigned) (number & 0xff),
                                (unsigned) ((number >> 8) & 0xff));
        default: return -1;
    }
}
