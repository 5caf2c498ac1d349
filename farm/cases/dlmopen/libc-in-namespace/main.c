/* A DSO loaded with dlmopen (LM_ID_NEWLM) exercises libc from inside its namespace
   (worker.c); this program checks the values it computed with that libc.  A libc copy that
   was not initialised for a secondary namespace typically crashes in malloc or
   pthread_create, or produces wrong formatted output.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int
main (void)
{
  const char *path = farm_path ("libworker.so");
  void *handle = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", path, dlerror ());
  Lmid_t lmid;
  if (dlinfo (handle, RTLD_DI_LMID, &lmid) != 0)
    FARM_FAIL ("dlinfo RTLD_DI_LMID: %s", dlerror ());
  printf ("worker loaded in namespace %ld\n", (long) lmid);
  FARM_CHECK (lmid != LM_ID_BASE);

  /* Which libc does the worker use?  On a stock glibc its own copy; with the RTLD_SHARED
     series libc is shared from the base namespace.  Informative only.  */
  void *worker_malloc = dlsym (handle, "malloc");
  FARM_NOTE ("the namespace's malloc is %s the base namespace's",
             worker_malloc == dlsym (RTLD_DEFAULT, "malloc") ? "the same as" : "distinct from");

  int (*worker_run) (char *, size_t) = (int (*) (char *, size_t)) dlsym (handle, "worker_run");
  if (worker_run == NULL)
    FARM_FAIL ("dlsym worker_run: %s", dlerror ());
  char buffer[256] = "";
  int status = worker_run (buffer, sizeof buffer);
  if (status != 0)
    FARM_FAIL ("worker_run step %d failed: %s", status, buffer);
  printf ("worker result: %s\n", buffer);
  const char *expected = "ns|-42|2.500|499500";
  if (strcmp (buffer, expected) != 0)
    FARM_FAIL ("worker computed %s, expected %s", buffer, expected);
  FARM_CHECK (dlclose (handle) == 0);
  FARM_PASS ();
}
