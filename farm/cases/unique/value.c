/* A DSO with one global and a way to bump it: whether two handles share the object shows
   as whether they see one address and one value.  Built several times under different
   names (libshared.so, libfresh.so, libuniq.so, libplain.so).  */

int farm_value;

int
farm_bump (void)
{
  return ++farm_value;
}
