// Importing this module links jemalloc, which then serves every malloc of the process (it
// comes before the C library in the executable's libraries). Only the executables import
// it; the libraries leave the choice of allocator to whoever links them.
#include <jemalloc/jemalloc.h>
