// libjpeg-turbo (Debian: libjpeg62-turbo-dev). jpeglib.h needs stdio's FILE declared first.
#include <stdio.h>
#include <setjmp.h>
#include <jpeglib.h>

// libjpeg reports a fatal error by calling error_exit, which must not return. Swift cannot
// longjmp, so the calls into libjpeg that can fail go through these small C functions: each
// sets a jump point, and the error manager's error_exit formats libjpeg's message and jumps
// back to it, so the caller gets -1 and the message instead of a stopped process. No Swift
// frame lies between a jump point and error_exit (libjpeg calls the Swift source callbacks,
// which return normally), so the jump skips only C frames.
struct lamm_jpeg_error_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void lamm_jpeg_error_exit(j_common_ptr cinfo) {
    struct lamm_jpeg_error_mgr *error = (struct lamm_jpeg_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, error->message);
    longjmp(error->jump, 1);
}

/// Installs the recoverable error_exit on an error manager set up by jpeg_std_error.
static inline void lamm_jpeg_recoverable_errors(struct lamm_jpeg_error_mgr *error) {
    error->pub.error_exit = lamm_jpeg_error_exit;
    error->message[0] = 0;
}

/// jpeg_read_header, the output colour space, jpeg_start_decompress: 0, or -1 on a fatal error.
static inline int lamm_jpeg_start(j_decompress_ptr cinfo, J_COLOR_SPACE out_color_space) {
    struct lamm_jpeg_error_mgr *error = (struct lamm_jpeg_error_mgr *)cinfo->err;
    if (setjmp(error->jump)) return -1;
    jpeg_read_header(cinfo, TRUE);
    cinfo->out_color_space = out_color_space;
    jpeg_start_decompress(cinfo);
    return 0;
}

/// One scanline into `row`: 0, or -1 on a fatal error.
static inline int lamm_jpeg_read_row(j_decompress_ptr cinfo, JSAMPROW row) {
    struct lamm_jpeg_error_mgr *error = (struct lamm_jpeg_error_mgr *)cinfo->err;
    if (setjmp(error->jump)) return -1;
    jpeg_read_scanlines(cinfo, &row, 1);
    return 0;
}
