/* RTLD_SHARED: an object dlmopen'ed into a new namespace with RTLD_SHARED is the base
   namespace's object, seen through a proxy in the new namespace.

   1. libshared.so loaded in the base namespace, then dlmopen (LM_ID_NEWLM, RTLD_SHARED):
      the handle is in the new namespace, but its farm_value is the base copy's.
   2. Control: the same dlmopen without RTLD_SHARED gets a private copy (the namespace is
      real, and the sharing in 1 is the flag's doing).
   3. libfresh.so, loaded nowhere yet, dlmopen'ed with RTLD_SHARED: it is loaded into the
      base namespace (RTLD_NOLOAD finds it there) and shared from there.  */

#include "../rtld_shared.h"

typedef int (*bump_fn) (void);

int
main (void)
{
  farm_require_series ();
  const char *shared_path = farm_path ("libshared.so");
  const char *fresh_path = farm_path ("libfresh.so");

  void *base = dlopen (shared_path, RTLD_NOW);
  if (base == NULL)
    FARM_FAIL ("dlopen %s: %s", shared_path, dlerror ());
  int *base_value = farm_sym (base, "farm_value");

  void *proxy = dlmopen (LM_ID_NEWLM, shared_path, RTLD_NOW | RTLD_SHARED);
  if (proxy == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM RTLD_SHARED: %s", dlerror ());
  int *proxy_value = farm_sym (proxy, "farm_value");
  Lmid_t proxy_lmid = farm_lmid (proxy);
  printf ("libshared.so: base farm_value at %p, RTLD_SHARED handle (namespace %ld) sees %p\n",
          (void *) base_value, (long) proxy_lmid, (void *) proxy_value);
  if (proxy_value != base_value)
    FARM_FAIL ("RTLD_SHARED gave a private copy, not the base namespace's object");
  if (proxy_lmid == LM_ID_BASE)
    FARM_FAIL ("the RTLD_SHARED handle is in LM_ID_BASE, expected a proxy in a new namespace");
  ((bump_fn) farm_sym (proxy, "farm_bump")) ();
  FARM_CHECK (*base_value == 1);

  void *isolated = dlmopen (LM_ID_NEWLM, shared_path, RTLD_NOW);
  if (isolated == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM without RTLD_SHARED: %s", dlerror ());
  int *isolated_value = farm_sym (isolated, "farm_value");
  printf ("libshared.so without RTLD_SHARED: farm_value at %p\n", (void *) isolated_value);
  if (isolated_value == base_value)
    FARM_FAIL ("without RTLD_SHARED the object was shared too: the control is broken");

  void *fresh_proxy = dlmopen (LM_ID_NEWLM, fresh_path, RTLD_NOW | RTLD_SHARED);
  if (fresh_proxy == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM RTLD_SHARED %s: %s", fresh_path, dlerror ());
  void *fresh_base = dlopen (fresh_path, RTLD_NOW | RTLD_NOLOAD);
  if (fresh_base == NULL)
    FARM_FAIL ("RTLD_SHARED did not load libfresh.so into the base namespace");
  int *fresh_proxy_value = farm_sym (fresh_proxy, "farm_value");
  int *fresh_base_value = farm_sym (fresh_base, "farm_value");
  printf ("libfresh.so: base farm_value at %p, RTLD_SHARED handle sees %p\n",
          (void *) fresh_base_value, (void *) fresh_proxy_value);
  if (fresh_proxy_value != fresh_base_value)
    FARM_FAIL ("libfresh.so: the RTLD_SHARED handle does not see the base namespace's copy");
  FARM_PASS ();
}
