/* libwrap.so (not unique) needs libuniq.so (linked with -z unique).  dlmopen'ing libwrap.so
   into LM_ID_NEWLM loads libwrap privately there, but its dependency libuniq.so must come
   from the base namespace: RTLD_NOLOAD finds it in the base namespace and libwrap's
   reference to farm_value points into that copy.  libwrap's own global, by contrast, is
   private (a base-namespace libwrap has a different one).  */

#include "../rtld_shared.h"

typedef int *(*address_fn) (void);

int
main (void)
{
  farm_require_series ();
  const char *uniq_path = farm_path ("libuniq.so");
  const char *wrap_path = farm_path ("libwrap.so");
  farm_require_unique_flag (uniq_path, 1);
  farm_require_unique_flag (wrap_path, 0);

  void *wrap = dlmopen (LM_ID_NEWLM, wrap_path, RTLD_NOW);
  if (wrap == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", wrap_path, dlerror ());
  FARM_CHECK (farm_lmid (wrap) != LM_ID_BASE);
  int *seen_by_wrap = ((address_fn) farm_sym (wrap, "wrap_uniq_value")) ();

  void *uniq_base = dlopen (uniq_path, RTLD_NOW | RTLD_NOLOAD);
  if (uniq_base == NULL)
    FARM_FAIL ("libuniq.so, needed by libwrap.so, was not loaded into the base namespace");
  int *in_base = farm_sym (uniq_base, "farm_value");
  printf ("farm_value as libwrap.so (namespace %ld) sees it: %p; base libuniq.so: %p\n",
          (long) farm_lmid (wrap), (void *) seen_by_wrap, (void *) in_base);
  if (seen_by_wrap != in_base)
    FARM_FAIL ("the unique dependency was loaded privately into the new namespace");

  void *wrap_base = dlopen (wrap_path, RTLD_NOW);
  if (wrap_base == NULL)
    FARM_FAIL ("dlopen %s: %s", wrap_path, dlerror ());
  int *own_private = ((address_fn) farm_sym (wrap, "wrap_own_value")) ();
  int *own_base = ((address_fn) farm_sym (wrap_base, "wrap_own_value")) ();
  if (own_private == own_base)
    FARM_FAIL ("libwrap.so itself was shared: the new namespace is not separate");
  FARM_PASS ();
}
