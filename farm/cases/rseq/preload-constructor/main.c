/* Run with LD_PRELOAD=./libpreload.so: the preloaded library's constructor must already
   have seen a registered rseq area (non-zero __rseq_size, cpu_id >= 0), and it must be the
   same area the main thread uses afterwards.  */

#include "../rseq_util.h"

#if !FARM_HAVE_SYS_RSEQ
int
main (void)
{
  FARM_UNSUPPORTED (FARM_NO_SYS_RSEQ);
}
#else

# include <dlfcn.h>

static void *
preload_symbol (const char *name)
{
  void *symbol = dlsym (RTLD_DEFAULT, name);
  if (symbol == NULL)
    FARM_FAIL ("%s not found: libpreload.so was not preloaded (LD_PRELOAD unset?)", name);
  return symbol;
}

int
main (void)
{
  int ran = *(int *) preload_symbol ("farm_preload_ran");
  unsigned int size = *(unsigned int *) preload_symbol ("farm_preload_rseq_size");
  int cpu_id = *(int *) preload_symbol ("farm_preload_cpu_id");
  void *area = *(void **) preload_symbol ("farm_preload_area");
  printf ("preload constructor: ran %d, __rseq_size %u, cpu_id %d, area %p\n", ran, size,
          cpu_id, area);
  if (!ran)
    FARM_FAIL ("the preloaded library's constructor did not run");
  farm_require_glibc_registration ();
  if (size != __rseq_size)
    FARM_FAIL ("__rseq_size changed after the preload constructor: %u then %u", size,
               __rseq_size);
  if (cpu_id < 0)
    FARM_FAIL ("the preload constructor ran before rseq registration (cpu_id %d)", cpu_id);
  if (area != (void *) farm_rseq_area ())
    FARM_FAIL ("the preload constructor saw a different rseq area than main");
  farm_check_registered ("main thread");
  FARM_PASS ();
}
#endif
