/*
 * UTF-8 validation for text that crosses a trust boundary: the worker's
 * event encoder (tlsworker/events.c) and webui's event parser
 * (webui/evparse.c) must agree on what is valid.
 */
#ifndef MITMD_UTF8_H
#define MITMD_UTF8_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at p (1 to 4 bytes, of the n
 * available), or 0: no overlong forms, no UTF-16 surrogates, nothing past
 * U+10FFFF. */
size_t	utf8_seq_len(const unsigned char *p, size_t n);

#endif
