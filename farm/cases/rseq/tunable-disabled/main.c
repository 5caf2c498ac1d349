/* With GLIBC_TUNABLES=glibc.pthread.rseq=0 glibc must not register: __rseq_size is 0, the
   area's cpu_id holds glibc's "not registered" marker (negative), and the kernel confirms
   nobody registered, by accepting a registration of our own area (undone at once).  The
   tunable came with the upstream ABI (2.35); the v12 series has none, so there the case
   is UNSUPPORTED.  */

#include "../rseq_util.h"

#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_UPSTREAM
int
main (void)
{
  farm_require_rseq_abi ();
  FARM_UNSUPPORTED ("this rseq ABI has no glibc.pthread.rseq tunable (it came with 2.35)");
}
#else

# include <stdlib.h>

static struct farm_rseq own_area;

int
main (void)
{
  farm_require_rseq_abi ();
  const char *tunables = getenv ("GLIBC_TUNABLES");
  printf ("GLIBC_TUNABLES=%s\n", tunables != NULL ? tunables : "(unset)");
  if (tunables == NULL || strstr (tunables, "glibc.pthread.rseq=0") == NULL)
    FARM_FAIL ("run with GLIBC_TUNABLES=glibc.pthread.rseq=0 (the case script sets it)");
  printf ("__rseq_size %u, __rseq_offset %ld\n", __rseq_size, (long) __rseq_offset);
  if (__rseq_size != 0)
    FARM_FAIL ("__rseq_size is %u although the tunable disables rseq", __rseq_size);
  int cpu_id = farm_rseq_cpu_id (farm_rseq_area ());
  printf ("glibc's area cpu_id: %d\n", cpu_id);
  if (cpu_id >= 0)
    FARM_FAIL ("glibc's rseq area has a live cpu_id although registration is disabled");

  farm_require_kernel_rseq ();
  unsigned int length;
  if (farm_rseq_kernel_holds ("main thread", &own_area, &length) != FARM_RSEQ_HOLDS_NOTHING)
    FARM_FAIL ("the kernel holds an rseq area although glibc's registration is disabled");
  /* Registered for real this time, to see the kernel update it.  */
  own_area.cpu_id = (uint32_t) -1;
  if (farm_rseq_syscall (&own_area, sizeof own_area, 0, FARM_RSEQ_SIG) != 0)
    FARM_FAIL ("registering our own rseq area failed (%s): something else registered",
               strerror (errno));
  sched_yield ();
  printf ("our own area registered; cpu_id %d\n", farm_rseq_cpu_id (&own_area));
  FARM_CHECK (farm_rseq_cpu_id (&own_area) >= 0);
  if (farm_rseq_syscall (&own_area, sizeof own_area, FARM_RSEQ_FLAG_UNREGISTER, FARM_RSEQ_SIG)
      != 0)
    FARM_FAIL ("unregistering our own area: %s", strerror (errno));
  FARM_PASS ();
}
#endif
