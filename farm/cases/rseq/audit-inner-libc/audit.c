/* An rtld-audit module: it lives in its own namespace, with its own libc, loaded before
   the program's libc starts.  From la_version it reports the calling (main) thread's rseq
   area as ITS libc sees it, in the file $FARM_RSEQ_AUDIT_REPORT: the program cannot reach
   the audit namespace's symbols, but it shares the address space, so it can judge the
   area from the pointer (see main.c).  */

#include "../rseq_util.h"

#include <link.h>
#include <stdlib.h>

unsigned int
la_version (unsigned int version)
{
#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_NONE
  const char *path = getenv ("FARM_RSEQ_AUDIT_REPORT");
  FILE *report = path != NULL ? fopen (path, "w") : NULL;
  if (report != NULL)
    {
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
      unsigned int claim = __rseq_size;
# else
      unsigned int claim = (unsigned int) __rseq_handled;
# endif
      fprintf (report, "%p %u %d\n", farm_rseq_area (), claim,
               farm_rseq_cpu_id (farm_rseq_area ()));
      fclose (report);
    }
#endif
  return version < LAV_CURRENT ? version : LAV_CURRENT;
}
