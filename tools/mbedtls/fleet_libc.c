/* The little of libc that mbedTLS needs in a freestanding wasm32 module: mem and str
 * functions, a C99 vsnprintf (X.509 name and OID formatting), time() and gmtime from the
 * host's wall clock, and abort through the host. Compiled with -fno-builtin (this file only,
 * tools/build-wasm.mjs) so clang does not turn these loops back into calls to themselves. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "mbedtls/build_info.h"
#include "mbedtls/platform_time.h"
#include "mbedtls/platform_util.h"
#include "fleet_host.h"

/* Small copies (mbedTLS copies 4..16 bytes at a time all through CCM) in 4-byte words,
 * unaligned ones included (alignment is only a hint in wasm); large ones (records) with one
 * memory.copy (-mbulk-memory), which V8 runs through a call out of the module: slower
 * below a few dozen bytes. */
typedef uint32_t __attribute__((aligned(1), may_alias)) fleet_u32_unaligned;

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    if (n >= 64) {
        __builtin_memcpy(dst, src, n);
        return dst;
    }
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (; n >= 4; n -= 4, d += 4, s += 4) {
        *(fleet_u32_unaligned *) d = *(const fleet_u32_unaligned *) s;
    }
    while (n-- > 0) {
        *d++ = *s++;
    }
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d == s || n == 0) {
        return dst;
    }
    if (d < s || d >= s + n) {
        return memcpy(dst, src, n);
    }
    while (n-- > 0) {
        d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    if (((uintptr_t) d & 3) == 0) {
        uint32_t word = (unsigned char) c * 0x01010101u;
        for (; n >= 4; n -= 4, d += 4) {
            *(uint32_t *) d = word;
        }
    }
    while (n-- > 0) {
        *d++ = (unsigned char) c;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return x[i] - y[i];
        }
    }
    return 0;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == (unsigned char) c) {
            return (void *) (p + i);
        }
    }
    return NULL;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char) a[i], y = (unsigned char) b[i];
        if (x != y || x == '\0') {
            return x - y;
        }
    }
    return 0;
}

int strcmp(const char *a, const char *b)
{
    return strncmp(a, b, SIZE_MAX);
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char) c) {
            return (char *) s;
        }
        if (*s == '\0') {
            return NULL;
        }
    }
}

char *strstr(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (; *haystack != '\0'; haystack++) {
        if (strncmp(haystack, needle, n) == 0) {
            return (char *) haystack;
        }
    }
    return n == 0 ? (char *) haystack : NULL;
}

_Noreturn void abort(void)
{
    fleet_host_abort(FLEET_ABORT_ASSERT);
}

/* --- vsnprintf: flags - 0 + space #, width and precision (number or *), length hh h l ll
 * z j t, conversions d i u x X o c s p %. C99 return value (the untruncated length). --- */

typedef struct {
    char *buf;
    size_t size;
    size_t len;
} out_t;

static void put(out_t *o, char c)
{
    if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

static void pad(out_t *o, char c, int count)
{
    while (count-- > 0) {
        put(o, c);
    }
}

static void put_number(out_t *o, uintmax_t value, int negative, unsigned base, int upper,
                       int left, int zero, int plus, int space, int alt, int width, int precision)
{
    char digits[72];
    int n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    while (value != 0) {
        digits[n++] = set[value % base];
        value /= base;
    }
    if (precision < 0) {
        precision = 1;
    } else {
        zero = 0; /* C99 7.19.6.1: with a precision, the 0 flag is ignored */
    }
    int zeros = precision > n ? precision - n : 0;
    if (alt && base == 8 && zeros == 0 && (n == 0 || digits[n - 1] != '0')) {
        zeros = 1;
    }
    const char *prefix = negative ? "-" : plus ? "+" : space ? " " : "";
    const char *base_prefix = (alt && base == 16 && n > 0) ? (upper ? "0X" : "0x") : "";
    int total = (int) strlen(prefix) + (int) strlen(base_prefix) + zeros + n;
    int fill = width > total ? width - total : 0;
    if (!left && !zero) {
        pad(o, ' ', fill);
    }
    for (const char *p = prefix; *p; p++) {
        put(o, *p);
    }
    for (const char *p = base_prefix; *p; p++) {
        put(o, *p);
    }
    if (!left && zero) {
        pad(o, '0', fill);
    }
    pad(o, '0', zeros);
    while (n > 0) {
        put(o, digits[--n]);
    }
    if (left) {
        pad(o, ' ', fill);
    }
}

int vsnprintf(char *restrict buf, size_t size, const char *restrict format, va_list args)
{
    out_t o = { buf, size, 0 };
    for (const char *f = format; *f != '\0'; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        int left = 0, zero = 0, plus = 0, space = 0, alt = 0;
        for (;; f++) {
            if (*f == '-') left = 1;
            else if (*f == '0') zero = 1;
            else if (*f == '+') plus = 1;
            else if (*f == ' ') space = 1;
            else if (*f == '#') alt = 1;
            else break;
        }
        int width = 0;
        if (*f == '*') {
            width = va_arg(args, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            f++;
        } else {
            while (*f >= '0' && *f <= '9') {
                width = width * 10 + (*f++ - '0');
            }
        }
        int precision = -1;
        if (*f == '.') {
            f++;
            precision = 0;
            if (*f == '*') {
                precision = va_arg(args, int);
                f++;
            } else {
                while (*f >= '0' && *f <= '9') {
                    precision = precision * 10 + (*f++ - '0');
                }
            }
        }
        int length = 0; /* 0 int, 1 long, 2 long long, 3 size_t, 4 intmax_t, 5 ptrdiff_t, -1 char, -2 short */
        if (*f == 'h') {
            f++;
            length = -2;
            if (*f == 'h') {
                f++;
                length = -1;
            }
        } else if (*f == 'l') {
            f++;
            length = 1;
            if (*f == 'l') {
                f++;
                length = 2;
            }
        } else if (*f == 'z') {
            f++;
            length = 3;
        } else if (*f == 'j') {
            f++;
            length = 4;
        } else if (*f == 't') {
            f++;
            length = 5;
        }
        char conversion = *f;
        if (conversion == '\0') {
            break;
        }
        switch (conversion) {
            case 'd':
            case 'i': {
                intmax_t v;
                switch (length) {
                    case 1: v = va_arg(args, long); break;
                    case 2: v = va_arg(args, long long); break;
                    case 3: v = (intmax_t) va_arg(args, size_t); break;
                    case 4: v = va_arg(args, intmax_t); break;
                    case 5: v = va_arg(args, ptrdiff_t); break;
                    case -1: v = (signed char) va_arg(args, int); break;
                    case -2: v = (short) va_arg(args, int); break;
                    default: v = va_arg(args, int); break;
                }
                uintmax_t magnitude = v < 0 ? (uintmax_t) 0 - (uintmax_t) v : (uintmax_t) v;
                put_number(&o, magnitude, v < 0, 10, 0, left, zero, plus, space, 0, width, precision);
                break;
            }
            case 'u':
            case 'x':
            case 'X':
            case 'o': {
                uintmax_t v;
                switch (length) {
                    case 1: v = va_arg(args, unsigned long); break;
                    case 2: v = va_arg(args, unsigned long long); break;
                    case 3: v = va_arg(args, size_t); break;
                    case 4: v = va_arg(args, uintmax_t); break;
                    case 5: v = (uintmax_t) va_arg(args, ptrdiff_t); break;
                    case -1: v = (unsigned char) va_arg(args, unsigned int); break;
                    case -2: v = (unsigned short) va_arg(args, unsigned int); break;
                    default: v = va_arg(args, unsigned int); break;
                }
                unsigned base = conversion == 'u' ? 10 : conversion == 'o' ? 8 : 16;
                put_number(&o, v, 0, base, conversion == 'X', left, zero, 0, 0, alt, width, precision);
                break;
            }
            case 'p':
                put_number(&o, (uintptr_t) va_arg(args, void *), 0, 16, 0, left, 0, 0, 0, 1, width, -1);
                break;
            case 'c': {
                char c = (char) va_arg(args, int);
                if (!left) pad(&o, ' ', width - 1);
                put(&o, c);
                if (left) pad(&o, ' ', width - 1);
                break;
            }
            case 's': {
                const char *s = va_arg(args, const char *);
                if (s == NULL) {
                    s = "(null)";
                }
                int n = 0;
                while (s[n] != '\0' && (precision < 0 || n < precision)) {
                    n++;
                }
                if (!left) pad(&o, ' ', width - n);
                for (int i = 0; i < n; i++) {
                    put(&o, s[i]);
                }
                if (left) pad(&o, ' ', width - n);
                break;
            }
            case '%':
                put(&o, '%');
                break;
            default:
                /* Unknown conversion: print it as is rather than guess at the arguments. */
                put(&o, '%');
                put(&o, conversion);
                break;
        }
    }
    if (size > 0) {
        buf[o.len < size ? o.len : size - 1] = '\0';
    }
    return o.len > INT32_MAX ? -1 : (int) o.len;
}

int snprintf(char *restrict buf, size_t size, const char *restrict format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(buf, size, format, args);
    va_end(args);
    return n;
}

/* --- time --- */

time_t time(time_t *out)
{
    time_t now = (time_t) (fleet_host_now_ms() / 1000.0);
    if (out != NULL) {
        *out = now;
    }
    return now;
}

mbedtls_ms_time_t mbedtls_ms_time(void)
{
    return (mbedtls_ms_time_t) fleet_host_now_ms();
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days),
 * valid for any 64-bit day count that fits the year in an int. */
struct tm *mbedtls_platform_gmtime_r(const mbedtls_time_t *tt, struct tm *tm_buf)
{
    int64_t t = (int64_t) *tt;
    int64_t days = t / 86400;
    int64_t seconds = t % 86400;
    if (seconds < 0) {
        seconds += 86400;
        days -= 1;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                   /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);           /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                 /* [0, 11] */
    int64_t d = doy - (153 * mp + 2) / 5 + 1;                         /* [1, 31] */
    int64_t m = mp < 10 ? mp + 3 : mp - 9;                            /* [1, 12] */
    y += m <= 2;
    if (y - 1900 > INT32_MAX || y - 1900 < INT32_MIN) {
        return NULL;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    static const int before_month[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
    tm_buf->tm_year = (int) (y - 1900);
    tm_buf->tm_mon = (int) (m - 1);
    tm_buf->tm_mday = (int) d;
    tm_buf->tm_hour = (int) (seconds / 3600);
    tm_buf->tm_min = (int) (seconds / 60 % 60);
    tm_buf->tm_sec = (int) (seconds % 60);
    tm_buf->tm_yday = before_month[m - 1] + (int) d - 1 + (leap && m > 2);
    int64_t wday = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    tm_buf->tm_wday = (int) (wday < 0 ? wday + 7 : wday);
    tm_buf->tm_isdst = 0;
    return tm_buf;
}
