/* Run with LD_AUDIT=./libaudit.so.  The audit module logs "<lmid> <name>" for each object
   the loader opens.  After dlmopen (LM_ID_NEWLM, libtarget.so), the log must show the main
   program in LM_ID_BASE (proof the audit module was really loaded, since the loader only
   warns when it cannot load one) and libtarget.so in the namespace dlinfo reports, which
   is not LM_ID_BASE.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (void)
{
  const char *log_path = getenv ("FARM_AUDIT_LOG");
  if (log_path == NULL)
    FARM_FAIL ("FARM_AUDIT_LOG is not set; run through the case script");

  const char *path = farm_path ("libtarget.so");
  void *handle = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", path, dlerror ());
  Lmid_t lmid;
  if (dlinfo (handle, RTLD_DI_LMID, &lmid) != 0)
    FARM_FAIL ("dlinfo RTLD_DI_LMID: %s", dlerror ());
  printf ("dlinfo: libtarget.so is in namespace %ld\n", (long) lmid);
  FARM_CHECK (lmid != LM_ID_BASE);

  FILE *log = fopen (log_path, "r");
  if (log == NULL)
    FARM_FAIL ("no audit log %s: the audit module was not loaded", log_path);
  char line[4096];
  int saw_main = 0, saw_target = 0, saw_target_in_base = 0;
  while (fgets (line, sizeof line, log) != NULL)
    {
      printf ("audit: %s", line);
      char *name = strchr (line, ' ');
      if (name == NULL)
        FARM_FAIL ("malformed audit log line: %s", line);
      long logged_lmid = strtol (line, NULL, 10);
      ++name;
      name[strcspn (name, "\n")] = '\0';
      if (strcmp (name, "<main>") == 0 && logged_lmid == LM_ID_BASE)
        saw_main = 1;
      if (strstr (name, "/libtarget.so") != NULL)
        {
          if (logged_lmid == (long) lmid)
            saw_target = 1;
          if (logged_lmid == LM_ID_BASE)
            saw_target_in_base = 1;
        }
    }
  fclose (log);
  if (!saw_main)
    FARM_FAIL ("the audit log lacks the main program in LM_ID_BASE: module not active?");
  if (saw_target_in_base)
    FARM_FAIL ("la_objopen reported libtarget.so in LM_ID_BASE");
  if (!saw_target)
    FARM_FAIL ("la_objopen never reported libtarget.so with lmid %ld", (long) lmid);
  FARM_CHECK (dlclose (handle) == 0);
  FARM_PASS ();
}
