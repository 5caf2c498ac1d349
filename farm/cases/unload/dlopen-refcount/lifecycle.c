/* A DSO that counts its constructor runs and reports its destructor to a hook the
   application installs, so the application can tell exactly when it was unloaded.  */

#include <stddef.h>

static int constructor_runs;
static void (*destructor_hook) (const char *);

__attribute__ ((constructor)) static void
lifecycle_init (void)
{
  ++constructor_runs;
}

__attribute__ ((destructor)) static void
lifecycle_fini (void)
{
  if (destructor_hook != NULL)
    destructor_hook (LIFECYCLE_NAME);
}

int
lifecycle_constructor_runs (void)
{
  return constructor_runs;
}

void
lifecycle_set_destructor_hook (void (*hook) (const char *))
{
  destructor_hook = hook;
}
