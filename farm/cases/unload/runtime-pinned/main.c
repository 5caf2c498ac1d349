/* The lttng-ust unload scenario.  The application (not linked against libruntime.so)
   dlopen()s libprovider.so, which pulls in libruntime.so; the runtime's constructor starts a
   thread that runs runtime code forever.  The application then dlclose()s the provider and
   carries on for a while.

   Pinned (default build): the runtime's constructor made itself RTLD_NODELETE, so it stays
   mapped (RTLD_NOLOAD still finds it), its thread keeps ticking, and the case PASSes.

   Control (-DFARM_NO_PIN): nothing keeps the runtime, dlclose() unmaps it, and the thread
   dies with SIGSEGV on its next instruction fetch: the case's natural outcome is that
   crash.  Surviving the sleep is a FAIL, as is finding the runtime still mapped.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>

#define RUNTIME_SONAME "libruntime.so"

typedef unsigned long (*ticks_fn) (void);

int
main (void)
{
  const char *provider_path = farm_path ("libprovider.so");
  void *provider = dlopen (provider_path, RTLD_NOW);
  if (provider == NULL)
    FARM_FAIL ("dlopen %s: %s", provider_path, dlerror ());
  int (*probe) (void) = (int (*) (void)) dlsym (provider, "provider_probe");
  if (probe == NULL)
    FARM_FAIL ("dlsym provider_probe: %s", dlerror ());
  FARM_CHECK (probe () == 1);

  /* A temporary reference to look inside the runtime; released before the provider.  */
  void *runtime = dlopen (RUNTIME_SONAME, RTLD_NOW | RTLD_NOLOAD);
  if (runtime == NULL)
    FARM_FAIL ("the provider's dependency %s is not loaded: %s", RUNTIME_SONAME, dlerror ());
  int *pinned = (int *) dlsym (runtime, "runtime_pinned");
  ticks_fn ticks = (ticks_fn) dlsym (runtime, "runtime_ticks");
  if (pinned == NULL || ticks == NULL)
    FARM_FAIL ("dlsym in the runtime: %s", dlerror ());
  for (int waited = 0; ticks () < 2; waited += 10)
    {
      if (waited > 5000)
        FARM_FAIL ("the runtime's thread never ran");
      farm_sleep_ms (10);
    }
  int pinned_state = *pinned;
  printf ("runtime thread is running; runtime pinned: %d\n", pinned_state);
#ifndef FARM_NO_PIN
  if (pinned_state != 1)
    FARM_FAIL ("the runtime could not pin itself with RTLD_NOLOAD | RTLD_NODELETE");
#endif
  FARM_CHECK (dlclose (runtime) == 0);

  FARM_CHECK (dlclose (provider) == 0);
  puts ("provider closed; the application carries on");
  farm_sleep_ms (300);

  void *still = dlopen (RUNTIME_SONAME, RTLD_NOW | RTLD_NOLOAD);
#ifdef FARM_NO_PIN
  if (still != NULL)
    FARM_FAIL ("the unpinned runtime is still mapped after dlclose: the control is broken");
  puts ("the runtime is unmapped; its thread should already have crashed the process");
  farm_sleep_ms (2000);
  FARM_FAIL ("survived 2 s with the runtime's thread running unmapped code");
#else
  if (still == NULL)
    FARM_FAIL ("the pinned runtime was unmapped by dlclose of the provider");
  unsigned long before = ticks ();
  farm_sleep_ms (50);
  unsigned long after = ticks ();
  printf ("runtime still mapped; its thread ticked %lu -> %lu\n", before, after);
  if (after <= before)
    FARM_FAIL ("the runtime's thread stopped after dlclose");
  FARM_PASS ();
#endif
}
