/* Three copies of one DSO, closed completely:
     libatopen.so    opened with RTLD_NODELETE          -> stays mapped, no destructor;
     libpromoted.so  opened plainly, then pinned with
                     RTLD_NOLOAD | RTLD_NODELETE        -> stays mapped, no destructor;
     libplain.so     opened plainly (the control)       -> unmapped, destructor ran.
   "Mapped" is asked with RTLD_NOLOAD, and the kept objects' code is called afterwards.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void (*set_hook_fn) (void (*) (const char *));
typedef int (*runs_fn) (void);

static char destructed[256];

static void
on_destructor (const char *name)
{
  strncat (destructed, name, sizeof destructed - strlen (destructed) - 2);
  strcat (destructed, " ");
}

static void *
open_with_hook (const char *path, int mode, runs_fn *runs)
{
  void *handle = dlopen (path, mode);
  if (handle == NULL)
    FARM_FAIL ("dlopen %s: %s", path, dlerror ());
  set_hook_fn set_hook = (set_hook_fn) dlsym (handle, "lifecycle_set_destructor_hook");
  *runs = (runs_fn) dlsym (handle, "lifecycle_constructor_runs");
  if (set_hook == NULL || *runs == NULL)
    FARM_FAIL ("dlsym in %s: %s", path, dlerror ());
  set_hook (on_destructor);
  return handle;
}

static int
still_mapped (const char *path)
{
  void *handle = dlopen (path, RTLD_NOW | RTLD_NOLOAD);
  if (handle != NULL)
    FARM_CHECK (dlclose (handle) == 0);
  return handle != NULL;
}

int
main (void)
{
  const char *at_open = farm_path ("libatopen.so");
  const char *promoted = farm_path ("libpromoted.so");
  const char *plain = farm_path ("libplain.so");
  runs_fn at_open_runs, promoted_runs, plain_runs;

  void *at_open_handle = open_with_hook (at_open, RTLD_NOW | RTLD_NODELETE, &at_open_runs);
  void *promoted_handle = open_with_hook (promoted, RTLD_NOW, &promoted_runs);
  void *plain_handle = open_with_hook (plain, RTLD_NOW, &plain_runs);

  void *pin = dlopen (promoted, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
  if (pin == NULL)
    FARM_FAIL ("pinning libpromoted.so with RTLD_NOLOAD | RTLD_NODELETE: %s", dlerror ());
  FARM_CHECK (pin == promoted_handle);
  FARM_CHECK (dlclose (pin) == 0);

  FARM_CHECK (dlclose (at_open_handle) == 0);
  FARM_CHECK (dlclose (promoted_handle) == 0);
  FARM_CHECK (dlclose (plain_handle) == 0);
  printf ("destructors run after closing all three: %s\n",
          destructed[0] != '\0' ? destructed : "(none)");

  if (strstr (destructed, "libplain.so") == NULL || still_mapped (plain))
    FARM_FAIL ("the control libplain.so was not unloaded: the checks below prove nothing");
  if (!still_mapped (at_open) || strstr (destructed, "libatopen.so") != NULL)
    FARM_FAIL ("libatopen.so, opened with RTLD_NODELETE, was unloaded");
  if (!still_mapped (promoted) || strstr (destructed, "libpromoted.so") != NULL)
    FARM_FAIL ("libpromoted.so, pinned with RTLD_NOLOAD | RTLD_NODELETE, was unloaded");
  /* Their code is still there to run.  */
  FARM_CHECK (at_open_runs () == 1 && promoted_runs () == 1);
  FARM_PASS ();
}
