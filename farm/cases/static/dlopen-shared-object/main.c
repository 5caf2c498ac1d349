/* A statically linked program dlopen()s a shared object and calls into it: the result of
   plain arithmetic, a string the plugin malloc'ed and formatted, and the plugin's own
   free of it.  A nonexistent object must fail with a dlerror message, not a crash.  The
   banner line "farm: loader static" confirms the program really is static.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int
main (void)
{
  const char *missing = farm_path ("libdoes-not-exist.so");
  if (dlopen (missing, RTLD_NOW) != NULL)
    FARM_FAIL ("dlopen of a nonexistent object succeeded");
  const char *error = dlerror ();
  printf ("dlopen of a missing object: %s\n", error != NULL ? error : "(no message)");
  if (error == NULL || error[0] == '\0')
    FARM_FAIL ("dlopen failed without a dlerror message");

  const char *path = farm_path ("libplugin.so");
  void *handle = dlopen (path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlopen %s from a static program: %s", path, dlerror ());
  int (*add) (int, int) = (int (*) (int, int)) dlsym (handle, "plugin_add");
  char *(*describe) (int) = (char *(*) (int)) dlsym (handle, "plugin_describe");
  void (*release) (char *) = (void (*) (char *)) dlsym (handle, "plugin_release");
  if (add == NULL || describe == NULL || release == NULL)
    FARM_FAIL ("dlsym in the plugin: %s", dlerror ());

  int sum = add (2, 3);
  printf ("plugin_add (2, 3) = %d\n", sum);
  FARM_CHECK (sum == 5);
  char *text = describe (42);
  if (text == NULL)
    FARM_FAIL ("the plugin's malloc failed");
  printf ("plugin_describe (42) = \"%s\"\n", text);
  if (strcmp (text, "plugin sees 42 (even)") != 0)
    FARM_FAIL ("unexpected text from the plugin");
  release (text);
  FARM_CHECK (dlclose (handle) == 0);
  FARM_PASS ();
}
