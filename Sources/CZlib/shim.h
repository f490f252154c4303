// zlib, for gzip-compressed vocabularies (bpe_simple_vocab_16e6.txt.gz).
#include <zlib.h>
