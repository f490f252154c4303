// libjpeg-turbo (Debian: libjpeg62-turbo-dev). jpeglib.h needs stdio's FILE declared first.
#include <stdio.h>
#include <jpeglib.h>
