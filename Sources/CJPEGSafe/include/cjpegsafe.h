#ifndef OUTPOST_CJPEGSAFE_H
#define OUTPOST_CJPEGSAFE_H

#include <stddef.h>

/*
 * Safe wrappers around libjpeg(-turbo) decompression.
 *
 * libjpeg reports fatal errors through error_exit(), which by default calls
 * exit(). These wrappers install an error manager that longjmps back into this
 * C file (never across Swift frames), so a corrupt or truncated JPEG results
 * in a non-zero return value and a message instead of a crash.
 *
 * Warnings (for example "premature end of data segment", after which libjpeg
 * would silently fill the rest of the image with grey) are treated as errors
 * too, so callers never receive silently incomplete pixels.
 */

/* Reads the header. On success returns 0 and stores the size and the number
 * of output components (1 for grayscale, 3 for colour). On failure returns
 * non-zero and writes a NUL-terminated message into `message`. */
int outpost_jpeg_read_header(const unsigned char *data, size_t size,
                             int *width, int *height, int *components,
                             char *message, size_t message_size);

/* Decodes the whole image into `pixels` (row-major, interleaved, 8-bit;
 * 1 component for grayscale sources, 3 (RGB) for everything else).
 * `capacity` must be at least width * height * components as reported by
 * outpost_jpeg_read_header. Returns 0 on success. */
int outpost_jpeg_decode(const unsigned char *data, size_t size,
                        unsigned char *pixels, size_t capacity,
                        char *message, size_t message_size);

#endif
