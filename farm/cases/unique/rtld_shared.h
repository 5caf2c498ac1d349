/* What the unique/ cases share: the ABI of the RTLD_SHARED dlmopen series (glibc bug
   22745) and small helpers.

   The series adds to <dlfcn.h>
     RTLD_SHARED  0x80  dlmopen: use the object from the base namespace (loading it there if
                        needed) and put a proxy for it in the target namespace;
     RTLD_ISOLATE 0x40  dlmopen: never share, even objects flagged unique;
   and honours DT_GNU_FLAGS_1 (0x6ffffdf4) with DF_GNU_1_UNIQUE (1), written by
   `ld -z unique`: such an object is always shared from the base namespace.

   On a glibc without the series (stock 2.36 included) these cases must report UNSUPPORTED,
   never PASS: a stock dlmopen ignores the unknown flag bit and loads a private copy, which
   the cases detect as a FAIL if they are run anyway.  So the code below is compiled on every
   glibc (RTLD_SHARED gets its series value when the header lacks it) and farm_require_series
   decides at run time.  */

#ifndef FARM_RTLD_SHARED_H
#define FARM_RTLD_SHARED_H

#include "farm_case.h"
#include "gnu_flags_1.h"

#include <dlfcn.h>
#include <stdio.h>

#ifdef RTLD_SHARED
# define FARM_HAVE_RTLD_SHARED 1
#else
# define FARM_HAVE_RTLD_SHARED 0
# define RTLD_SHARED 0x80
#endif

__attribute__ ((unused)) static void
farm_require_series (void)
{
  if (!FARM_HAVE_RTLD_SHARED)
    {
#ifdef FARM_IGNORE_MISSING_SERIES
      /* Only for proving the case is not a false PASS: run the checks on a stock glibc,
         where each of them must FAIL.  */
      FARM_NOTE ("no RTLD_SHARED in <dlfcn.h>; running anyway (FARM_IGNORE_MISSING_SERIES)");
      return;
#else
      FARM_UNSUPPORTED ("<dlfcn.h> has no RTLD_SHARED: this glibc lacks the RTLD_SHARED "
                        "dlmopen series");
#endif
    }
  printf ("RTLD_SHARED is %#x\n", (unsigned int) RTLD_SHARED);
  if (RTLD_SHARED != 0x80)
    FARM_NOTE ("RTLD_SHARED differs from the series' 0x80: a different revision?");
}

/* FAIL unless the object at PATH carries DF_GNU_1_UNIQUE exactly when EXPECTED says so:
   without the flag the "unique" cases would test nothing.  A `unique: true` build step
   guarantees it (farm-mark-unique writes it where the linker did not, and makes the case
   UNSUPPORTED where it cannot), so a FAIL here is the farm's own fault, not glibc's.  */
__attribute__ ((unused)) static void
farm_require_unique_flag (const char *path, int expected)
{
  unsigned long flags = 0;
  int present = farm_file_dynamic_entry (path, DT_GNU_FLAGS_1, &flags)
                && (flags & DF_GNU_1_UNIQUE) != 0;
  printf ("%s: DT_GNU_FLAGS_1 %s\n", path, present ? "has DF_GNU_1_UNIQUE" : "absent");
  if (present != expected)
    FARM_FAIL ("%s %s DF_GNU_1_UNIQUE (see the build log's farm-mark-unique line)", path,
               expected ? "lacks" : "unexpectedly has");
}

__attribute__ ((unused)) static void *
farm_sym (void *handle, const char *name)
{
  void *symbol = dlsym (handle, name);
  if (symbol == NULL)
    FARM_FAIL ("dlsym %s: %s", name, dlerror ());
  return symbol;
}

__attribute__ ((unused)) static Lmid_t
farm_lmid (void *handle)
{
  Lmid_t lmid;
  if (dlinfo (handle, RTLD_DI_LMID, &lmid) != 0)
    FARM_FAIL ("dlinfo RTLD_DI_LMID: %s", dlerror ());
  return lmid;
}

#endif /* FARM_RTLD_SHARED_H */
