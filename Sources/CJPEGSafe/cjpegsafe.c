#include "cjpegsafe.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>

struct outpost_error_manager {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char *message;
    size_t message_size;
};

static void outpost_store_message(j_common_ptr cinfo) {
    struct outpost_error_manager *manager = (struct outpost_error_manager *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    if (manager->message != NULL && manager->message_size > 0) {
        snprintf(manager->message, manager->message_size, "%s", buffer);
    }
}

static void outpost_error_exit(j_common_ptr cinfo) {
    struct outpost_error_manager *manager = (struct outpost_error_manager *)cinfo->err;
    outpost_store_message(cinfo);
    longjmp(manager->escape, 1);
}

static void outpost_emit_message(j_common_ptr cinfo, int msg_level) {
    /* msg_level < 0 is a warning: corrupt data that libjpeg would paper over. */
    if (msg_level < 0) {
        outpost_error_exit(cinfo);
    }
}

static void outpost_output_message(j_common_ptr cinfo) {
    (void)cinfo;
}

static void outpost_prepare(struct jpeg_decompress_struct *cinfo,
                            struct outpost_error_manager *manager,
                            char *message, size_t message_size) {
    memset(cinfo, 0, sizeof(*cinfo));
    cinfo->err = jpeg_std_error(&manager->base);
    manager->base.error_exit = outpost_error_exit;
    manager->base.emit_message = outpost_emit_message;
    manager->base.output_message = outpost_output_message;
    manager->message = message;
    manager->message_size = message_size;
    if (message != NULL && message_size > 0) {
        message[0] = '\0';
    }
}

static void outpost_choose_output(struct jpeg_decompress_struct *cinfo) {
    if (cinfo->num_components == 1) {
        cinfo->out_color_space = JCS_GRAYSCALE;
    } else {
        cinfo->out_color_space = JCS_RGB;
    }
}

int outpost_jpeg_read_header(const unsigned char *data, size_t size,
                             int *width, int *height, int *components,
                             char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    struct outpost_error_manager manager;
    if (data == NULL || size == 0) {
        if (message != NULL && message_size > 0) {
            snprintf(message, message_size, "empty input");
        }
        return 1;
    }
    outpost_prepare(&cinfo, &manager, message, message_size);
    if (setjmp(manager.escape)) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    outpost_choose_output(&cinfo);
    jpeg_calc_output_dimensions(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *components = cinfo.output_components;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int outpost_jpeg_decode(const unsigned char *data, size_t size,
                        unsigned char *pixels, size_t capacity,
                        char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    struct outpost_error_manager manager;
    if (data == NULL || size == 0 || pixels == NULL) {
        if (message != NULL && message_size > 0) {
            snprintf(message, message_size, "empty input");
        }
        return 1;
    }
    outpost_prepare(&cinfo, &manager, message, message_size);
    if (setjmp(manager.escape)) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    outpost_choose_output(&cinfo);
    jpeg_start_decompress(&cinfo);
    {
        size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
        size_t needed = stride * (size_t)cinfo.output_height;
        if (needed > capacity) {
            if (message != NULL && message_size > 0) {
                snprintf(message, message_size,
                         "output buffer too small: need %zu bytes, have %zu", needed, capacity);
            }
            jpeg_destroy_decompress(&cinfo);
            return 1;
        }
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
            if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
                if (message != NULL && message_size > 0) {
                    snprintf(message, message_size, "decoder stopped at scanline %u of %u",
                             cinfo.output_scanline, cinfo.output_height);
                }
                jpeg_destroy_decompress(&cinfo);
                return 1;
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
