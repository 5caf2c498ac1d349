/* DT_GNU_FLAGS_1 and DF_GNU_1_UNIQUE, for headers that predate them: the dynamic tag
   `ld -z unique` writes (binutils 2.36+) and the RTLD_SHARED series honours.  Shared by
   the unique/ cases and farm-mark-unique (mark_unique.c), which writes it where the
   linker did not.  */

#ifndef FARM_GNU_FLAGS_1_H
#define FARM_GNU_FLAGS_1_H

#include <elf.h>

#ifndef DT_GNU_FLAGS_1
# define DT_GNU_FLAGS_1 0x6ffffdf4
#endif
#ifndef DF_GNU_1_UNIQUE
# define DF_GNU_1_UNIQUE 1
#endif

#endif /* FARM_GNU_FLAGS_1_H */
