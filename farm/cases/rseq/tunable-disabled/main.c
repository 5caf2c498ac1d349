/* With GLIBC_TUNABLES=glibc.pthread.rseq=0 glibc must not register: __rseq_size is 0, the
   area's cpu_id holds glibc's "not registered" marker (negative), and the kernel confirms
   nobody registered, by accepting a registration of our own area (undone at once).  */

#include "../rseq_util.h"

#if !FARM_HAVE_SYS_RSEQ
int
main (void)
{
  FARM_UNSUPPORTED (FARM_NO_SYS_RSEQ);
}
#else

# include <stdlib.h>
# include <string.h>

# define RSEQ_FLAG_UNREGISTER_VALUE 1

static struct rseq own_area __attribute__ ((aligned (32)));

int
main (void)
{
  const char *tunables = getenv ("GLIBC_TUNABLES");
  printf ("GLIBC_TUNABLES=%s\n", tunables != NULL ? tunables : "(unset)");
  if (tunables == NULL || strstr (tunables, "glibc.pthread.rseq=0") == NULL)
    FARM_FAIL ("run with GLIBC_TUNABLES=glibc.pthread.rseq=0 (the case script sets it)");
  printf ("__rseq_size %u, __rseq_offset %ld\n", __rseq_size, (long) __rseq_offset);
  if (__rseq_size != 0)
    FARM_FAIL ("__rseq_size is %u although the tunable disables rseq", __rseq_size);
  int cpu_id = (int) farm_rseq_area ()->cpu_id;
  printf ("glibc's area cpu_id: %d\n", cpu_id);
  if (cpu_id >= 0)
    FARM_FAIL ("glibc's rseq area has a live cpu_id although registration is disabled");

  farm_require_kernel_rseq ();
  own_area.cpu_id = (uint32_t) -1;
  if (farm_rseq_syscall (&own_area, sizeof own_area, 0, RSEQ_SIG) != 0)
    FARM_FAIL ("registering our own rseq area failed (%s): something else registered",
               strerror (errno));
  sched_yield ();
  printf ("our own area registered; cpu_id %d\n", (int) own_area.cpu_id);
  FARM_CHECK ((int) own_area.cpu_id >= 0);
  if (farm_rseq_syscall (&own_area, sizeof own_area, RSEQ_FLAG_UNREGISTER_VALUE, RSEQ_SIG) != 0)
    FARM_FAIL ("unregistering our own area: %s", strerror (errno));
  FARM_PASS ();
}
#endif
