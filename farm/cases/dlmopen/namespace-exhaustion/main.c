/* glibc has DL_NNS (16) namespaces, the base one included.  Asking for LM_ID_NEWLM until
   that runs out must end in a NULL handle with a dlerror message, not a crash or an
   assertion; and the namespaces already opened must still work afterwards.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define ATTEMPTS 64 /* far more than any glibc's DL_NNS */
#define DL_NNS 16

typedef int (*bump_fn) (void);

int
main (void)
{
  const char *path = farm_path ("libstate.so");
  void *handles[ATTEMPTS];
  int opened = 0;
  const char *error = NULL;
  while (opened < ATTEMPTS)
    {
      void *handle = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
      if (handle == NULL)
        {
          error = dlerror ();
          break;
        }
      handles[opened++] = handle;
    }
  printf ("opened %d new namespaces before dlmopen failed\n", opened);
  if (opened == ATTEMPTS)
    FARM_FAIL ("dlmopen never failed: %d namespaces, but DL_NNS is %d", opened, DL_NNS);
  if (error == NULL || error[0] == '\0')
    FARM_FAIL ("dlmopen returned NULL without a dlerror message");
  printf ("dlerror: %s\n", error);
  if (opened == 0)
    FARM_FAIL ("not even one LM_ID_NEWLM namespace could be opened");
  if (strstr (error, "namespace") != NULL)
    {
      /* The namespace limit itself: every namespace but the base one was handed out.  */
      if (opened != DL_NNS - 1)
        FARM_FAIL ("ran out of namespaces after %d, expected %d (DL_NNS - 1)",
                   opened, DL_NNS - 1);
    }
  else
    FARM_NOTE ("the limit hit was not the namespace count; the message says why");

  /* The failure must not have disturbed what is loaded: each namespace still has its own
     working copy.  */
  for (int i = 0; i < opened; ++i)
    {
      bump_fn bump = (bump_fn) dlsym (handles[i], "state_bump");
      if (bump == NULL)
        FARM_FAIL ("dlsym in namespace #%d after the failure: %s", i, dlerror ());
      if (bump () != 1)
        FARM_FAIL ("namespace #%d does not have fresh state", i);
    }
  void *base = dlopen (path, RTLD_NOW);
  if (base == NULL)
    FARM_FAIL ("dlopen in the base namespace after the failure: %s", dlerror ());
  FARM_CHECK (dlclose (base) == 0);
  FARM_PASS ();
}
