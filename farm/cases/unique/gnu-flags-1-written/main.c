/* The toolchain half of the unique cases: an object built with `unique: true` must carry
   DT_GNU_FLAGS_1 with DF_GNU_1_UNIQUE in its dynamic section, and a plain link must not;
   the other unique cases would be meaningless otherwise.  libld.so is linked with a bare
   `-z unique`, and whether the linker alone wrote the flag is reported, not judged: a
   linker without the option (binutils 2.35) is no glibc bug.  The verdict is UNSUPPORTED
   on a glibc without the RTLD_SHARED series, where the flag is inert.  It also reports
   whether the glibc under test flags its own libc.so.6 unique.  */

#include "../rtld_shared.h"

#include <link.h>
#include <string.h>

static int
find_libc (struct dl_phdr_info *info, size_t size, void *closure)
{
  (void) size;
  const char **libc_path = closure;
  if (info->dlpi_name != NULL && strstr (info->dlpi_name, "/libc.so") != NULL)
    {
      *libc_path = info->dlpi_name;
      return 1;
    }
  return 0;
}

int
main (void)
{
  farm_require_series ();
  farm_require_unique_flag (farm_path ("libuniq.so"), 1);
  farm_require_unique_flag (farm_path ("libplain.so"), 0);
  unsigned long ld_flags = 0;
  int ld_wrote = farm_file_dynamic_entry (farm_path ("libld.so"), DT_GNU_FLAGS_1, &ld_flags)
                 && (ld_flags & DF_GNU_1_UNIQUE) != 0;
  FARM_NOTE ("the linker %s DF_GNU_1_UNIQUE for -z unique", ld_wrote ? "writes" : "ignores");

  const char *libc_path = NULL;
  dl_iterate_phdr (find_libc, &libc_path);
  if (libc_path != NULL)
    {
      unsigned long flags = 0;
      int unique = farm_file_dynamic_entry (libc_path, DT_GNU_FLAGS_1, &flags)
                   && (flags & DF_GNU_1_UNIQUE) != 0;
      FARM_NOTE ("%s is %sflagged DF_GNU_1_UNIQUE", libc_path, unique ? "" : "not ");
    }

  FARM_PASS ();
}
