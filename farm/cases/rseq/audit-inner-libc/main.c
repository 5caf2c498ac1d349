/* Run with LD_AUDIT=./libaudit.so: the audit module's namespace has its own libc (with
   the v12 series, its own TLS __rseq_abi), loaded before the program's libc starts.  It
   must not register its area for the main thread, which the program's libc registers:
   the kernel holds the program's area (see ../inner_libc.h).  The module reports its
   view of the area through a file (audit.c).  */

#include "../inner_libc.h"

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE
int
main (void)
{
  farm_require_rseq_abi ();
}
#else

# include <stdlib.h>

int
main (void)
{
  farm_require_rseq_abi ();
  farm_require_glibc_registration ();
  const char *path = getenv ("FARM_RSEQ_AUDIT_REPORT");
  if (path == NULL)
    FARM_FAIL ("run with FARM_RSEQ_AUDIT_REPORT set (the case script sets it)");
  FILE *report = fopen (path, "r");
  if (report == NULL)
    FARM_FAIL ("no report %s from the audit module: did LD_AUDIT load it? (%s)", path,
               strerror (errno));
  void *audit_area;
  unsigned int audit_claim;
  int audit_cpu_id;
  if (fscanf (report, "%p %u %d", &audit_area, &audit_claim, &audit_cpu_id) != 3)
    FARM_FAIL ("%s: not the audit module's \"area claim cpu_id\" line", path);
  fclose (report);
  printf ("the audit module saw, in la_version: area %p, claim %u, cpu_id %d\n",
          audit_area, audit_claim, audit_cpu_id);
  farm_check_inner_libc ("main thread, audit libc", audit_area, audit_claim);
  FARM_PASS ();
}
#endif
