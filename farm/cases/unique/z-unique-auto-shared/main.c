/* DF_GNU_1_UNIQUE: libuniq.so (linked with -z unique, which the case first checks the
   linker really recorded) is dlmopen'ed into LM_ID_NEWLM with no flags and before anything
   loaded it: the loader must put it in the base namespace (RTLD_NOLOAD finds it there) and
   hand the new namespace that same object.  libplain.so, the same code without the flag,
   is the control: it gets a private copy.  */

#include "../rtld_shared.h"

int
main (void)
{
  farm_require_series ();
  const char *uniq_path = farm_path ("libuniq.so");
  const char *plain_path = farm_path ("libplain.so");
  farm_require_unique_flag (uniq_path, 1);
  farm_require_unique_flag (plain_path, 0);

  void *uniq = dlmopen (LM_ID_NEWLM, uniq_path, RTLD_NOW);
  if (uniq == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", uniq_path, dlerror ());
  void *uniq_base = dlopen (uniq_path, RTLD_NOW | RTLD_NOLOAD);
  if (uniq_base == NULL)
    FARM_FAIL ("the unique object was not loaded into the base namespace");
  int *in_namespace = farm_sym (uniq, "farm_value");
  int *in_base = farm_sym (uniq_base, "farm_value");
  printf ("libuniq.so: farm_value via the LM_ID_NEWLM handle (namespace %ld) at %p, "
          "base at %p\n", (long) farm_lmid (uniq), (void *) in_namespace, (void *) in_base);
  if (in_namespace != in_base)
    FARM_FAIL ("the DF_GNU_1_UNIQUE object was loaded privately into the new namespace");

  void *plain = dlmopen (LM_ID_NEWLM, plain_path, RTLD_NOW);
  if (plain == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", plain_path, dlerror ());
  void *plain_base = dlopen (plain_path, RTLD_NOW | RTLD_NOLOAD);
  if (plain_base != NULL)
    FARM_FAIL ("libplain.so (no -z unique) showed up in the base namespace");
  plain_base = dlopen (plain_path, RTLD_NOW);
  if (plain_base == NULL)
    FARM_FAIL ("dlopen %s: %s", plain_path, dlerror ());
  if (farm_sym (plain, "farm_value") == farm_sym (plain_base, "farm_value"))
    FARM_FAIL ("libplain.so was shared although it is not flagged unique");
  FARM_PASS ();
}
