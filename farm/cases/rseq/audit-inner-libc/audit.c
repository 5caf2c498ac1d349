/* An rtld-audit module: it lives in its own namespace, with its own libc, loaded before
   the program's libc starts.  From la_version it reports the calling (main) thread's rseq
   area as ITS libc sees it, in the file $FARM_RSEQ_AUDIT_REPORT: the program cannot reach
   the audit namespace's symbols, but it shares the address space, so it can judge the
   area from the pointer (see main.c).  */

#include "../rseq_util.h"

#include <fcntl.h>
#include <link.h>
#include <stdlib.h>

unsigned int
la_version (unsigned int version)
{
#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_NONE
  /* open/write, not stdio: the audit namespace's libc runs this before the program's libc
     has started, and stdio would allocate.  */
  const char *path = getenv ("FARM_RSEQ_AUDIT_REPORT");
  int fd = path != NULL ? open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
  if (fd >= 0)
    {
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
      unsigned int claim = __rseq_size;
# else
      unsigned int claim = (unsigned int) __rseq_handled;
# endif
      char line[128];
      int length = snprintf (line, sizeof line, "%p %u %d\n", farm_rseq_area (), claim,
                             farm_rseq_cpu_id (farm_rseq_area ()));
      if (length > 0 && (size_t) length < sizeof line)
        (void) write (fd, line, length);
      close (fd);
    }
#endif
  return version < LAV_CURRENT ? version : LAV_CURRENT;
}
