/* Freestanding <stdio.h>: only the formatting mbedTLS needs (X.509 names, OIDs). */
#ifndef FLEET_STDIO_H
#define FLEET_STDIO_H
#include <stddef.h>
#include <stdarg.h>
int vsnprintf(char *restrict buf, size_t size, const char *restrict format, va_list args);
int snprintf(char *restrict buf, size_t size, const char *restrict format, ...);
#endif
